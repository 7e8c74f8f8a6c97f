"""Shared fixtures: real stores on temporary directories, real servers on free ports."""

from __future__ import annotations

import shutil

import pytest


def promtool_path() -> str:
    path = shutil.which("promtool")
    if path is None:
        pytest.skip("promtool is not installed (Debian package 'prometheus'; .ci/run installs it)")
    return path
