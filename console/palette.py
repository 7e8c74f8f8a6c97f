"""Command palette (ctrl+p): go to a screen, change the chart range, pause, switch theme."""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import TYPE_CHECKING, cast

from textual.command import DiscoveryHit, Hit, Hits, Provider

from console.history import RANGES
from console.screens import FLEET, SCREENS
from console.themes import THEMES

if TYPE_CHECKING:
    from console.app import ConsoleApp


class ConsoleCommands(Provider):
    """Every command is also a key (see help); the palette makes them findable by name."""

    def commands(self) -> list[tuple[str, str, Callable[[], object]]]:
        app = cast("ConsoleApp", self.app)
        out: list[tuple[str, str, Callable[[], object]]] = [
            (f"Go to {spec.title}", f"key {spec.key}: {spec.about}", partial(app.action_show, spec.id))
            for spec in ((*SCREENS, FLEET) if app.fleet is not None else SCREENS)
        ]
        out += [(f"Chart range {r.name}", f"charts cover the last {r.name}", partial(app.set_range, r.name))
                for r in RANGES]
        out.append(("Resume live updates", "key p", app.action_pause) if app.client.paused
                   else ("Pause live updates", "key p: freeze the figures to read them", app.action_pause))
        out += [(f"Theme {name}", f"--theme {name}", partial(app.set_theme, name)) for name in THEMES]
        out += [("Help", "key ? or F1: every key of this screen", app.action_help),
                ("Quit", "key q", app.action_quit)]
        return out

    async def discover(self) -> Hits:
        for title, help_text, callback in self.commands():
            yield DiscoveryHit(title, callback, help=help_text)

    async def search(self, query: str) -> Hits:
        matcher = self.matcher(query)
        for title, help_text, callback in self.commands():
            score = matcher.match(title)
            if score > 0:
                yield Hit(score, matcher.highlight(title), callback, help=help_text)
