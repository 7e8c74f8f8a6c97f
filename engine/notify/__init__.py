"""Notifications: channels, Alertmanager-style routing and grouping, a persistent outbox and delivery.

config.py (channels, route tree, inhibition: parsing and validation), routing.py (matching and
inhibition), dispatch.py (aggregation groups on the injected clock), templates.py (message texts),
one module per channel type (webhook, slack, email, alertmanager), outbox.py (SQLite outbox, delivery
log, notification log, API channels), delivery.py (per-channel workers, retries, health, metrics) and
notifier.py (the part the Engine owns).
"""
