"""The fault-injection tier (issue 5): kill -9, node faults, back-office outages."""
