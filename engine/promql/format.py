"""Label sets as Prometheus writes them in its messages."""

from __future__ import annotations

from engine.compat.strconv import quote
from engine.tsdb.types import Labels


def labels_string(labels: Labels) -> str:
    """Go's ``labels.Labels.String()``: ``{a="1", b="2"}``, the form Prometheus's errors quote."""
    return "{" + ", ".join(f"{name}={quote(value)}" for name, value in labels) + "}"
