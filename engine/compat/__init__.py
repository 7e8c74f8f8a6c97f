"""What mimics Go and Prometheus, one module per concern: durations, strconv (quoting, float parsing), regexes."""
