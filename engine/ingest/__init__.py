"""Ingestion from outside: admission (validation and limits), the push API, Pushgateway paths, remote write."""
