"""Modules loaded on first use: numpy costs a server ~15 MB and 0.1 s at start, and an idle server
or a console's first frame may never need it (small range queries take the scalar paths)."""

from __future__ import annotations

import importlib
from types import ModuleType
from typing import Any


class LazyModule:
    """``np = LazyModule("numpy")`` stands for numpy until an attribute is first read, then imports
    it through ``importlib.import_module``, whose per-module lock makes a thread that comes second
    wait for the whole module (``importlib.util.LazyLoader`` does not on Python 3.11: query threads
    starting together saw a half-executed numpy). The module's names are then copied here, so later
    reads are plain attribute reads."""

    def __init__(self, name: str) -> None:
        self._name = name

    def __getattr__(self, attr: str) -> Any:
        module: ModuleType = importlib.import_module(self._name)
        self.__dict__.update(vars(module))
        return getattr(module, attr)
