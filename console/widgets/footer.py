"""The key footer, fitted to the terminal: ``? Help`` and ``q Quit`` always show; when the keys do
not all fit (80 columns), the app's other keys go first, then the screen's last ones. Help lists
every key whatever the footer shows."""

from __future__ import annotations

from typing import ClassVar

from textual.app import ComposeResult
from textual.binding import Binding
from textual.widgets import Footer
from textual.widgets._footer import FooterKey

STAND_INS = (("help", "f1", "Help"), ("quit", "ctrl+q", "Quit"))


class ConsoleFooter(Footer):
    KEEP: ClassVar[frozenset[str]] = frozenset({"help", "quit"})
    DEFAULT_CSS = "ConsoleFooter FooterKey.-squeezed { display: none; }"

    def compose(self) -> ComposeResult:
        """Textual's keys; while a text field has the focus, ``?`` and ``q`` type into it, so the
        keys that still reach help and quit there (f1, ctrl+q) stand in for them."""
        shown = list(super().compose())
        actions = {w.action for w in shown if isinstance(w, FooterKey)}
        at = next((i for i, w in enumerate(shown) if w.has_class("-command-palette")), len(shown))
        for action, key, description in STAND_INS:
            if shown and action not in actions:
                shown.insert(at, FooterKey(key, self.app.get_key_display(Binding(key, action)), description,
                                           action).data_bind(compact=Footer.compact))
                at += 1
        yield from shown
        self.call_after_refresh(self._fit)

    def on_resize(self) -> None:
        self._fit()

    def _fit(self) -> None:
        keys = [k for k in self.query(FooterKey) if not k.has_class("-command-palette")]
        if not keys or not self.is_mounted:
            return
        palette = sum(self._width(k) + 1 for k in self.query(FooterKey) if k.has_class("-command-palette"))
        room = self.size.width - palette
        app_actions = {a.binding.action for a in self.screen.active_bindings.values() if a.node is self.app}
        # what gives way first: the app's optional keys, then the screen's from the last one
        order = ([k for k in keys if k.action in app_actions and k.action not in self.KEEP]
                 + [k for k in reversed(keys) if k.action not in app_actions])
        hidden: set[FooterKey] = set()
        total = sum(self._width(k) for k in keys)
        for key in order:
            if total <= room:
                break
            hidden.add(key)
            total -= self._width(key)
        for key in keys:
            key.set_class(key in hidden, "-squeezed")

    @staticmethod
    def _width(key: FooterKey) -> int:
        return key.render().cell_len + key.styles.margin.width
