"""Work sharing: which live replica runs each scrape target and health check.

Rendezvous (highest random weight) hashing: a key belongs to the member with the highest
hash(member, key). Every replica computes the same owner from the same member list without asking
anyone, and when a member leaves only its keys move (each to the member that ranked second for it);
a member that joins takes about 1/n of the others' keys.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence


def owner(key: str, members: Sequence[str]) -> str:
    """The member that runs ``key`` (``members`` not empty)."""
    return max(members, key=lambda member: _weight(member, key))


def assignments(keys: Iterable[str], members: Sequence[str]) -> dict[str, str]:
    """``GET /api/cluster``'s ``assignments``: every key with its owner."""
    return {key: owner(key, members) for key in sorted(keys)}


def target_key(job: str, url: str) -> str:
    """A scrape target's identity for sharing: its job and URL, equal on every replica with the same
    config (labels and API entry ids do not move it)."""
    return f"target:{job}:{url}"


def check_key(name: str) -> str:
    return f"check:{name}"


def _weight(member: str, key: str) -> int:
    digest = hashlib.blake2b(f"{member}\x00{key}".encode("utf-8", "surrogatepass"), digest_size=8).digest()
    return int.from_bytes(digest, "big")
