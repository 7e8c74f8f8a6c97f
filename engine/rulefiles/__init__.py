"""Prometheus rule files: the model, loading with Prometheus's validation, and the rules made through the API."""
