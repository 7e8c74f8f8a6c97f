"""Budgets of one template expansion. Go's text/template has none; alert templates come from rule
files and the API, so a short template must not be able to expand to megabytes or run for minutes."""

from __future__ import annotations

MAX_OUTPUT_BYTES = 16 * 1024
"""Expanded label or annotation value; also the largest string a function may build (printf widths)."""

MAX_STEPS = 10_000
"""Nodes walked plus functions called in one expansion (range iterations walk their body each time):
about 10 ms of the thread that expands, where a real template takes tens to a few thousand."""

QUERY_STEPS = 1_000
"""What one ``query`` call spends of MAX_STEPS: a PromQL evaluation costs far more than a node."""

MAX_EXEC_DEPTH = 100
"""Nested ``template`` calls (Go allows 100000)."""


def utf8_len(text: str) -> int:
    """Length in UTF-8 bytes, the unit Prometheus and the store measure values in."""
    return len(text) if text.isascii() else len(text.encode("utf-8", "surrogatepass"))
