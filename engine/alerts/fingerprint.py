"""Alertmanager's alert fingerprint: FNV-1a 64 over the sorted label pairs."""

from __future__ import annotations

from collections.abc import Mapping

_OFFSET = 0xCBF29CE484222325
_PRIME = 0x100000001B3
_MASK = (1 << 64) - 1
_SEP = 0xFF


def fingerprint(labels: Mapping[str, str]) -> str:
    """``%016x`` of FNV-1a over name, 0xFF, value, 0xFF per label, names sorted bytewise."""
    h = _OFFSET
    for name in sorted(labels, key=lambda n: n.encode()):
        for part in (name, labels[name]):
            for byte in part.encode():
                h = ((h ^ byte) * _PRIME) & _MASK
            h = ((h ^ _SEP) * _PRIME) & _MASK
    return f"{h:016x}"
