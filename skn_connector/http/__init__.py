"""The daemon's HTTP face (``[http] listen``): health for the service manager and load
balancers, metrics for Prometheus."""
