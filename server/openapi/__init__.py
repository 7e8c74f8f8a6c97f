"""The API contract: one declaration per route (operations.py), rendered as OpenAPI 3.1 (document.py)
and enforced on requests (validation.py) from the same schemas."""
