"""A one-line text widget that redraws only when its content changes."""

from __future__ import annotations

from rich.cells import cell_len
from rich.text import Text
from textual.widgets import Static


class Field(Static):
    """Never parses markup (server text is shown as is) and skips identical updates, which would
    otherwise repaint its region and send the same bytes down an SSH link again."""

    def __init__(self, content: Text | str = "", **kwargs: object) -> None:
        super().__init__(content, markup=False, **kwargs)  # type: ignore[arg-type]
        self._shown: Text | str = content

    def show(self, content: Text | str) -> None:
        if content != self._shown:
            width = _one_line_width(content)
            resized = width is None or width != _one_line_width(self._shown) or width > self.content_size.width
            self._shown = content
            self.update(content, layout=resized)  # a layout pass repaints more than this field (scrollbars)


def _one_line_width(content: Text | str) -> int | None:
    """The cells of a one-line text (None for several lines): the same width takes the same room."""
    text = content.plain if isinstance(content, Text) else content
    return None if "\n" in text else cell_len(text)
