"""Console themes by short name. ``ansi`` draws with the terminal's own 16 colours (cheapest over SSH
and right on any background); NO_COLOR picks it and strips colour entirely."""

from __future__ import annotations

import os
from collections.abc import Mapping

THEMES = {"dark": "textual-dark", "light": "textual-light", "ansi": "ansi-dark", "ansi-light": "ansi-light"}
DEFAULT_THEME = "dark"


def no_color(environ: Mapping[str, str] | None = None) -> bool:
    """https://no-color.org: set (to anything) means no colour."""
    return "NO_COLOR" in (os.environ if environ is None else environ)


def default_theme(environ: Mapping[str, str] | None = None) -> str:
    return "ansi" if no_color(environ) else DEFAULT_THEME


def next_theme(name: str) -> str:
    names = list(THEMES)
    return names[(names.index(name) + 1) % len(names)] if name in names else DEFAULT_THEME
