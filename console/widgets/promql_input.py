"""The PromQL line: completion of metric names, function names, label names and label values (of the
metric being typed) from the server, and up/down through the query history, as in a shell."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence

from textual.binding import Binding
from textual.suggester import Suggester
from textual.widgets import Input

from console.promql_functions import COMMON, SIGNATURES
from engine.compat.regex import compile as compile_regex

LabelValues = Callable[[str, str | None], Awaitable[Sequence[str]]]
"""Values of one label from the server (``__name__``: metric names, ``__labels__``: label names),
of the series of one metric when a metric name is given (label values and names in its selector)."""

# RE2, linear time: these run on every keystroke, and Python's re is quadratic on them (a pasted
# 20,000-character query froze the console for a minute).
_IDENT = compile_regex(r"[a-zA-Z_:][a-zA-Z0-9_:]*$")
_LABEL_VALUE = compile_regex(r'([a-zA-Z_][a-zA-Z0-9_]*)\s*(?:=~|!~|!=|=)\s*"([^"]*)$')
_SELECTOR_METRIC = compile_regex(r'([a-zA-Z_:][a-zA-Z0-9_:]*)\s*\{[^{}]*$')
_LABEL_NAME = compile_regex(r'(?:[{,]|\b(?:by|without|on|ignoring|group_left|group_right)\s*\()'
                            r'(?:[^{}()]*,)?\s*([a-zA-Z_][a-zA-Z0-9_]*)?$')


_PREFERRED = {f"{name}(": rank for rank, name in enumerate(COMMON)}


def _first(candidates: Sequence[str], prefix: str) -> str | None:
    """The completion of ``prefix``: a common function first, then the first alphabetically."""
    found = (c for c in candidates if c.startswith(prefix) and c != prefix)
    return min(found, key=lambda c: (_PREFERRED.get(c, len(_PREFERRED)), c), default=None)


class PromqlSuggester(Suggester):
    """Completes the word at the end of the line: a label value inside quotes after ``label=`` (the
    values the metric before the ``{`` has), a label name after ``{``, ``,`` (those of the metric
    before the ``{``) or ``by (``, otherwise
    a metric or a function name (``rate(``)."""

    def __init__(self, values: LabelValues) -> None:
        super().__init__(use_cache=False, case_sensitive=True)
        self.values = values

    async def get_suggestion(self, value: str) -> str | None:
        if value.count('"') % 2:  # inside a string: only a label matcher's value is completed
            match = _LABEL_VALUE.find_submatch(value)
            if match is None:
                return None
            label, typed = match[1] or "", match[2] or ""
            metric = _SELECTOR_METRIC.find_submatch(value[:value.rfind("{") + 1])
            found = _first(await self.values(label, metric[1] if metric else None), typed)
            return None if found is None else value + found[len(typed):] + '"'
        inside = value.rfind("{") > value.rfind("}")
        grouping = _LABEL_NAME.find_submatch(value)
        if grouping is not None and (inside or "(" in (grouping[0] or "")):
            prefix = grouping[1] or ""
            if not prefix:
                return None
            metric = _SELECTOR_METRIC.find_submatch(value[:value.rfind("{") + 1]) if inside else None
            found = _first(await self.values("__labels__", metric[1] if metric else None), prefix)
            return None if found is None else value + found[len(prefix):]
        word = _IDENT.find_submatch(value)
        if word is None or inside:
            return None
        typed = word[0] or ""
        found = _first([*await self.values("__name__", None), *(f"{name}(" for name in SIGNATURES)], typed)
        return None if found is None else value + found[len(typed):]


class PromqlInput(Input):
    """``up``/``down`` walk the history (newest first); ``tab`` takes the completion shown."""

    BINDINGS = [
        Binding("up", "older", "Older query", show=False),
        Binding("down", "newer", "Newer query", show=False),
        Binding("tab", "complete", "Complete", show=False),
    ]

    def __init__(self, values: LabelValues, history: list[str], **kwargs: object) -> None:
        super().__init__(placeholder="PromQL expression, e.g. rate(node_cpu_seconds_total[1m])",
                         suggester=PromqlSuggester(values), select_on_focus=False,
                         **kwargs)  # type: ignore[arg-type]
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
        """Take the completion; with none, stay in the line (a bell): the letters typed next are still
        the query's, not the screen's keys."""
        if self._suggestion and self.cursor_at_end:
            self.value = self._suggestion
            self.cursor_position = len(self.value)
        else:
            self.app.bell()
