"""What operators look at: the state of the work, shared by the metrics, health and doctor."""
