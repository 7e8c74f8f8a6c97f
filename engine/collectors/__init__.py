"""Collectors that turn host and process state into metric families for the store."""
