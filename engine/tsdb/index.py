"""Inverted label index: label name -> value -> set of series refs."""

from __future__ import annotations

from collections.abc import Iterable

from engine.tsdb.matchers import Matcher
from engine.tsdb.types import Labels


class LabelIndex:
    """Answers matcher sets with postings lookups instead of scanning every series."""

    def __init__(self) -> None:
        self._postings: dict[str, dict[str, set[int]]] = {}
        self._all: set[int] = set()

    def __len__(self) -> int:
        return len(self._all)

    def add(self, ref: int, labels: Labels) -> None:
        self._all.add(ref)
        postings = self._postings
        for name, value in labels:
            by_value = postings.get(name)
            if by_value is None:
                by_value = postings[name] = {}
            refs = by_value.get(value)
            if refs is None:
                by_value[value] = {ref}
            else:
                refs.add(ref)

    def remove(self, ref: int, labels: Labels) -> None:
        self._all.discard(ref)
        for name, value in labels:
            by_value = self._postings.get(name)
            if by_value is None:
                continue
            refs = by_value.get(value)
            if refs is not None:
                refs.discard(ref)
                if not refs:
                    del by_value[value]
                    if not by_value:
                        del self._postings[name]

    def _matching(self, m: Matcher) -> set[int]:
        by_value = self._postings.get(m.name, {})
        if m.op == "=" and m.value != "":
            return set(by_value.get(m.value, ()))
        if m.matches(""):
            # Matches series that lack the label too: everything minus the values it rejects.
            rejected: set[int] = set()
            for value, refs in by_value.items():
                if not m.matches(value):
                    rejected |= refs
            return self._all - rejected
        out: set[int] = set()
        for value, refs in by_value.items():
            if m.matches(value):
                out |= refs
        return out

    def select(self, matchers: Iterable[Matcher]) -> set[int]:
        """Refs of series satisfying every matcher (most selective matcher first)."""
        result: set[int] | None = None
        ordered = sorted(matchers, key=lambda m: (m.op != "=" or m.value == "", m.op not in ("=", "=~")))
        for m in ordered:
            refs = self._matching(m)
            result = refs if result is None else result & refs
            if not result:
                return set()
        return set(self._all) if result is None else result

    def label_names(self, refs: set[int] | None = None) -> list[str]:
        if refs is None:
            return sorted(self._postings)
        return sorted(n for n, by_value in self._postings.items() if any(r & refs for r in by_value.values()))

    def label_values(self, name: str, refs: set[int] | None = None) -> list[str]:
        by_value = self._postings.get(name, {})
        if refs is None:
            return sorted(by_value)
        return sorted(v for v, r in by_value.items() if r & refs)
