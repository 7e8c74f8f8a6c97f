"""The engine: everything metrics-service knows (collection, storage, queries, rules, alerts)."""

__version__ = "0.1.0"
