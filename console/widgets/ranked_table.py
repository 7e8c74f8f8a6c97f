"""A live table whose rows are positions (the first, second… entry of a ranking), for lists that
reorder on every update, such as the top processes.

``DataTable.update_cell`` repaints the whole table, and a reordered ``LiveTable`` is rebuilt, so a
ranking that moves every few seconds would resend the whole table down the SSH link each time. Here
each position's cells are compared with what it showed and only the cells whose text changed are
repainted (``refresh_coordinate``); the table is rebuilt only when the number of rows changes.
"""

from __future__ import annotations

from typing import Self

from textual.coordinate import Coordinate
from textual.geometry import Region

from console.widgets.table import Cell, LiveTable


class RankedTable(LiveTable):
    _quiet = False
    limit: int | None = None
    """Show at most this many entries (after the filter): a steady row count keeps updates in place."""

    def refresh(self, *regions: Region, repaint: bool = True, layout: bool = False,
                recompose: bool = False) -> Self:
        """While cells are rewritten in place, the whole-table repaint ``update_cell`` asks for is
        dropped: ``_apply`` repaints the cells it changed."""
        if self._quiet and not regions and not layout and not recompose:
            return self
        return super().refresh(*regions, repaint=repaint, layout=layout, recompose=recompose)

    @property
    def visible_keys(self) -> list[str]:
        return super().visible_keys[:self.limit]

    @property
    def highlighted_key(self) -> str | None:
        """The key (from ``show``) of the entry at the cursor's position."""
        keys = self.visible_keys
        row = self.cursor_coordinate.row
        return keys[row] if self.row_count and 0 <= row < len(keys) else None

    def _apply(self) -> None:
        wanted = [cells for key, cells in self._rows if self._keeps(key, cells)][:self.limit]
        if len(wanted) != self.row_count or any(self._wider(cells) for cells in wanted):
            self.clear()
            for index, column in enumerate(self.ordered_columns):  # measured now, not when idle: the
                column.content_width = max([column.content_width,  # first frame shows whole cells
                                            *(cells[index].cell_len for cells in wanted)])
            for position, cells in enumerate(wanted):
                self.add_row(*cells, key=str(position))
        else:
            changed: list[Coordinate] = []
            self._quiet = True
            try:
                for position, cells in enumerate(wanted):
                    for column, cell in enumerate(cells):
                        if self.get_cell_at(Coordinate(position, column)) != cell:
                            self.update_cell_at(Coordinate(position, column), cell)
                            changed.append(Coordinate(position, column))
            finally:
                self._quiet = False
            for coordinate in changed:
                self.refresh_coordinate(coordinate)
        # "top 50" unfiltered (not "50 of 70": the entries received change at every update, and a
        # new subtitle repaints the whole table); filtered, the matches of the entries received.
        if self._filter:
            count = f"{len(wanted)} of {len(self._rows)}"
        else:
            count = f"top {len(wanted)}" if len(wanted) < len(self._rows) else str(len(wanted))
        if self.border_subtitle != count:  # repaints the whole table: only what the filter changes
            self.border_subtitle = count

    def _wider(self, cells: list[Cell]) -> bool:
        """A cell wider than its column: the columns must be measured again (a rebuild)."""
        return any(cell.cell_len > column.content_width for cell, column in zip(cells, self.ordered_columns,
                                                                                 strict=False))
