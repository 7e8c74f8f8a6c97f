"""A live DataTable: rows keyed by identity, cells rewritten only when their text changes."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from rich.cells import cell_len
from rich.text import Text
from textual.binding import Binding
from textual.widgets import DataTable

from engine.compat.regex import RegexError, quote_meta
from engine.compat.regex import compile as compile_regex

Cell = Text
MIN_SHRUNK = 12
"""A shrinking column keeps at least this many cells, even if the columns after it then scroll."""


@dataclass(frozen=True)
class Column:
    key: str
    label: str
    numeric: bool = False
    shrinks: bool = False
    """Cut with an ellipsis when the table is too narrow for every column, so the ones after it stay
    on screen (an alert's labels must not push its value and age off an 80-column terminal)."""


class RowFilter:
    """What the user typed after ``/``: a case-insensitive RE2 regex, linear time whatever is typed
    (a plain substring if it is not a valid one); a leading ``!`` keeps the rows that do *not* match."""

    def __init__(self, text: str = "") -> None:
        self.text = text
        pattern = text[1:] if text.startswith("!") else text
        self.invert = text.startswith("!")
        try:
            self._regex = compile_regex("(?i)" + pattern)
        except RegexError:
            self._regex = compile_regex("(?i)" + quote_meta(pattern))

    def __bool__(self) -> bool:
        return bool(self.text)

    def keeps(self, cells: Sequence[Text]) -> bool:
        found = any(self._regex.matches(c.plain) for c in cells)
        return found != self.invert


UP_DOWN_KEYS = [
    Binding("j", "cursor_down", "Down", show=False),
    Binding("k", "cursor_up", "Up", show=False),
]
"""``j``/``k`` as ``↓``/``↑``: for any widget with ``cursor_down``/``cursor_up`` actions (tables, lists)."""


class LiveTable(DataTable):
    """``show(rows)`` with (key, cells) pairs in display order; a filter hides rows without losing them."""

    BINDINGS = [
        *UP_DOWN_KEYS,
        Binding("g", "scroll_top", "First row", show=False),
        Binding("G", "scroll_bottom", "Last row", show=False),
    ]

    def __init__(self, title: str, columns: Sequence[Column], *, id: str | None = None) -> None:
        super().__init__(id=id, cursor_type="row", zebra_stripes=False)
        self.title = title
        self.border_title = title
        self._columns = columns
        self._rows: list[tuple[str, list[Cell]]] = []
        self._values: list[tuple[str, Sequence[str]]] = []
        self._whole: dict[str, list[Cell]] = {}
        """Each row's whole values, kept only while a shrinking column is cut."""
        self._filter = RowFilter()

    def on_mount(self) -> None:
        for c in self._columns:
            self.add_column(Text(c.label, justify="right" if c.numeric else "left"), key=c.key)

    def cell(self, column: Column, value: str) -> Cell:
        return Text(value, justify="right" if column.numeric else "left", no_wrap=True)

    def show(self, rows: Sequence[tuple[str, Sequence[str]]]) -> None:
        """Rows as (key, cell strings); server text is never parsed as markup."""
        self._values = list(rows)
        room = self._shrunk_width()
        self._rows = [(key, [self.cell(c, _cut(v, room) if c.shrinks else v)
                             for c, v in zip(self._columns, values, strict=True)])
                      for key, values in self._values]
        self._whole = {} if room is None else {key: [Text(v) for v in values] for key, values in self._values}
        self._apply()

    def _keeps(self, key: str, cells: list[Cell]) -> bool:
        """The filter looks at whole values: a label behind a shrunk column's ellipsis still matches."""
        return not self._filter or self._filter.keeps(self._whole.get(key, cells))

    def on_resize(self) -> None:
        if self._values and any(c.shrinks for c in self._columns):
            self.show(self._values)

    def _shrunk_width(self) -> int | None:
        """The cells each shrinking column gets: what the other columns, at their widest, leave of the
        table's width; None when everything fits (or the table is not laid out yet)."""
        shrinking = [i for i, c in enumerate(self._columns) if c.shrinks]
        width = self.scrollable_content_region.width
        if not shrinking or not width:
            return None
        widest = [max([cell_len(c.label), *(cell_len(values[i]) for _, values in self._values)])
                  for i, c in enumerate(self._columns)]
        padding = 2 * self.cell_padding * len(self._columns)
        if sum(widest) + padding <= width:
            return None
        others = sum(w for i, w in enumerate(widest) if i not in shrinking)
        return max(MIN_SHRUNK, (width - padding - others) // len(shrinking))

    def set_filter(self, row_filter: RowFilter) -> None:
        self._filter = row_filter
        self._apply()

    @property
    def visible_keys(self) -> list[str]:
        return [key for key, cells in self._rows if self._keeps(key, cells)]

    @property
    def highlighted_key(self) -> str | None:
        if not self.row_count:
            return None
        return self.coordinate_to_cell_key(self.cursor_coordinate).row_key.value

    def highlighted_item(self, items: Iterable[dict[str, Any]]) -> dict[str, Any] | None:
        """The item whose ``id`` keys the highlighted row: what the user sees is what is acted on,
        whatever a live re-sort did meanwhile."""
        key = self.highlighted_key
        return next((item for item in items if str(item["id"]) == key), None)

    def _apply(self) -> None:
        wanted = [(key, cells) for key, cells in self._rows if self._keeps(key, cells)]
        current = [str(k.value) for k in self.rows]
        if [key for key, _ in wanted] != current:
            selected = self.highlighted_key
            self.clear()
            for key, cells in wanted:
                self.add_row(*cells, key=key)
            keys = [key for key, _ in wanted]
            if selected in keys:
                self.move_cursor(row=keys.index(selected), animate=False)
        else:
            for key, cells in wanted:
                for column, cell in zip(self._columns, cells, strict=True):
                    if self.get_cell(key, column.key) != cell:
                        self.update_cell(key, column.key, cell, update_width=True)
        count = f"{len(wanted)} of {len(self._rows)}" if self._filter else str(len(self._rows))
        if self.border_subtitle != count:  # setting it repaints the whole table
            self.border_subtitle = count


def _cut(value: str, width: int | None) -> str:
    """``value`` in at most ``width`` cells, an ellipsis marking the cut."""
    if width is None or cell_len(value) <= width:
        return value
    text = Text(value)
    text.truncate(width, overflow="ellipsis")
    return text.plain
