"""A one-line text widget that redraws only when its content changes."""

from __future__ import annotations

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
            self._shown = content
            self.update(content)
