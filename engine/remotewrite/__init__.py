"""Remote write out: every appended sample sent to a Prometheus-compatible store (remote write 1.0)."""
