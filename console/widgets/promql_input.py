"""The PromQL line: completion of metric names, label names and label values from the server, and
up/down through the query history, as in a shell."""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable, Sequence

from textual.binding import Binding
from textual.suggester import Suggester
from textual.widgets import Input

LabelValues = Callable[[str], Awaitable[Sequence[str]]]
"""Values of one label from the server (``__name__``: metric names, ``__labels__``: label names)."""

_IDENT = re.compile(r"[a-zA-Z_:][a-zA-Z0-9_:]*$")
_LABEL_VALUE = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)\s*(?:=~|!~|!=|=)\s*"([^"]*)$')
_LABEL_NAME = re.compile(r'(?:[{,]|\b(?:by|without|on|ignoring|group_left|group_right)\s*\()'
                         r'(?:[^{}()]*,)?\s*([a-zA-Z_][a-zA-Z0-9_]*)?$')


def _first(candidates: Sequence[str], prefix: str) -> str | None:
    return next((c for c in sorted(candidates) if c.startswith(prefix) and c != prefix), None)


class PromqlSuggester(Suggester):
    """Completes the word at the end of the line: a label value inside quotes after ``label=``,
    a label name after ``{``, ``,`` or ``by (``, otherwise a metric name."""

    def __init__(self, values: LabelValues) -> None:
        super().__init__(use_cache=False, case_sensitive=True)
        self.values = values

    async def get_suggestion(self, value: str) -> str | None:
        if value.count('"') % 2:  # inside a string: only a label matcher's value is completed
            match = _LABEL_VALUE.search(value)
            if match is None:
                return None
            found = _first(await self.values(match.group(1)), match.group(2))
            return None if found is None else value + found[len(match.group(2)):] + '"'
        inside = value.rfind("{") > value.rfind("}")
        grouping = _LABEL_NAME.search(value)
        if grouping is not None and (inside or "(" in grouping.group(0)):
            prefix = grouping.group(1) or ""
            if not prefix:
                return None
            found = _first(await self.values("__labels__"), prefix)
            return None if found is None else value + found[len(prefix):]
        word = _IDENT.search(value)
        if word is None or inside:
            return None
        found = _first(await self.values("__name__"), word.group(0))
        return None if found is None else value + found[len(word.group(0)):]


class PromqlInput(Input):
    """``up``/``down`` walk the history (newest first); ``tab`` takes the completion shown."""

    BINDINGS = [
        Binding("up", "older", "Older query", show=False),
        Binding("down", "newer", "Newer query", show=False),
        Binding("tab", "complete", "Complete", show=False),
    ]

    def __init__(self, values: LabelValues, history: list[str], **kwargs: object) -> None:
        super().__init__(placeholder="PromQL expression, e.g. rate(node_cpu_seconds_total[1m])",
                         suggester=PromqlSuggester(values), **kwargs)  # type: ignore[arg-type]
        self.history = history
        self._position = len(history)
        self._draft = ""

    def reset_history(self) -> None:
        """After a run: the next ``up`` starts again from the newest query."""
        self._position = len(self.history)

    def _recall(self, position: int) -> None:
        if self._position == len(self.history):
            self._draft = self.value
        self._position = position
        self.value = self.history[position] if position < len(self.history) else self._draft
        self.cursor_position = len(self.value)

    def action_older(self) -> None:
        if self._position > 0:
            self._recall(self._position - 1)

    def action_newer(self) -> None:
        if self._position < len(self.history):
            self._recall(self._position + 1)

    def action_complete(self) -> None:
        if self._suggestion and self.cursor_at_end:
            self.value = self._suggestion
            self.cursor_position = len(self.value)
        else:
            self.screen.focus_next()
