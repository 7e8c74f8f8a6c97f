"""HTTP handlers grouped by API area; each module exposes ``routes``."""
