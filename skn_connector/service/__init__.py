"""Running the connector: the daemon and its jobs."""
