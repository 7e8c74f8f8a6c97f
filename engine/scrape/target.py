"""A scrape target: its labels as Prometheus 2.42 builds them (``populateLabels``), its scrape URL,
its health, and the cache that turns each scraped series text into its final label set.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from functools import cached_property
from urllib.parse import urlencode

from engine.compat.durations import format_duration
from engine.scrape import relabel
from engine.scrape.config import ScrapeConfig, TargetGroup
from engine.scrape.exposition import Samples, parse_series
from engine.tsdb.types import Labels, Metadata

RESERVED_PREFIX = "__"


@dataclass
class Target:
    """One endpoint to scrape; ``labels`` are what every scraped series gets (job, instance, ...)."""

    config: ScrapeConfig
    discovered: dict[str, str]
    labels: dict[str, str]
    url: str
    origin: str
    """``config``, ``file_sd`` or ``api``."""
    entry_id: str | None = None
    """The API entry that added it (``DELETE /api/targets/{id}``), None for the config's."""
    health: str = "unknown"
    last_error: str = ""
    last_scrape: float | None = None
    last_duration: float = 0.0
    last_samples: int = 0
    cache: dict[str, int] = field(default_factory=dict, repr=False)
    """Series text -> store ref (or DROPPED), for the series of the last scrape."""
    report_refs: list[int] = field(default_factory=list, repr=False)

    @cached_property
    def id(self) -> str:
        """Stable over restarts and equal for equal targets (job, labels, URL and API entry), as
        Prometheus's hash of a target."""
        text = "\xff".join([self.config.job_name, self.url, self.entry_id or "",
                             *(f"{k}\xfe{v}" for k, v in sorted(self.labels.items()))])
        return hashlib.blake2b(text.encode("utf-8", "surrogatepass"), digest_size=8).hexdigest()

    def offset(self, interval: float) -> float:
        """Where in each interval this target is scraped: spread by its hash, so targets do not all
        start together (Prometheus's ``scrapeLoop.offset``)."""
        return int(self.id, 16) % max(1, int(interval * 1000)) / 1000


def discovered_labels(config: ScrapeConfig, group: TargetGroup, address: str) -> dict[str, str]:
    """The labels a target has before relabelling: the group's, ``__address__`` and the job's defaults."""
    lb = dict(group.labels)
    lb["__address__"] = address
    if group.source:
        lb["__meta_filepath"] = group.source
    for name, value in (("job", config.job_name), ("__scheme__", config.scheme),
                        ("__metrics_path__", config.metrics_path),
                        ("__scrape_interval__", format_duration(int(config.interval * 1000))),
                        ("__scrape_timeout__", format_duration(int(config.timeout * 1000)))):
        lb.setdefault(name, value)
    for name, values in config.params:
        if values:
            lb.setdefault(f"__param_{name}", values[0])
    return lb


def populate(config: ScrapeConfig, discovered: dict[str, str]) -> tuple[dict[str, str], str] | None:
    """Relabel a discovered target: its final labels and scrape URL, or None when it is dropped.
    Raises ValueError for a target that cannot be scraped (no address)."""
    lb = relabel.process(dict(discovered), config.relabel_configs)
    if lb is None:
        return None
    address = lb.get("__address__", "")
    if not address:
        raise ValueError("no address")
    scheme = lb.get("__scheme__", config.scheme)
    if scheme not in ("http", "https"):
        raise ValueError(f"invalid scheme {scheme!r}")
    if "/" in address or " " in address:
        raise ValueError(f"{address!r} is not a valid hostname")
    if ":" not in address.rsplit("]", 1)[-1]:
        address = f"{address}:{443 if scheme == 'https' else 80}"
    params: dict[str, list[str]] = {name: list(values) for name, values in config.params}
    for name, value in lb.items():
        if name.startswith("__param_"):
            params.setdefault(name[len("__param_"):], [""])[0] = value
    path = lb.get("__metrics_path__", config.metrics_path)
    query = urlencode([(k, v) for k, vs in params.items() for v in vs])
    url = f"{scheme}://{address}{path}" + (f"?{query}" if query else "")
    labels = {k: v for k, v in lb.items() if not k.startswith(RESERVED_PREFIX)}
    labels.setdefault("instance", address)
    return labels, url


class ScrapeFailed(Exception):
    """A scrape that yields no samples (limit, parse error): the message becomes the target's lastError."""


DROPPED = -1
"""The cached ref of a series that metric relabelling drops."""
REFUSED = -2
"""A series admission refused this scrape (not cached: it is judged again next time)."""


@dataclass(slots=True)
class Miss:
    """A series text the target's cache did not know: its final labels (None when metric
    relabelling drops it) and its family, for admission on the loop."""

    index: int
    name: str
    labels: Labels | None
    family: str
    metadata: Metadata


@dataclass(slots=True)
class Processed:
    """A scrape mapped through the target's cache: a ref per sample (None for a miss), the misses
    to admit, and how many samples are left after metric relabelling."""

    keys: list[str]
    refs: list[int | None]
    values: list[float]
    misses: list[Miss]
    post_relabel: int


def process(target: Target, samples: Samples) -> Processed:
    """Map each scraped series text to its ref through the target's cache, at C speed when every
    text is known (as Prometheus's scrape cache does); only new texts are parsed, merged with the
    target's labels and relabelled. Enforces ``label_limit`` and ``sample_limit``. Pure: runs on a
    worker thread. Raises ScrapeFailed, or ParseError for a series text that does not parse."""
    keys = samples.keys
    refs: list[int | None] = list(map(target.cache.get, keys))
    misses: list[Miss] = []
    if None in refs:
        for i, ref in enumerate(refs):
            if ref is None:
                name, labels = _series_labels(keys[i], target)
                family, metadata = samples.family_of(name)
                misses.append(Miss(i, name, labels, family, metadata))
    dropped = refs.count(DROPPED) + sum(1 for m in misses if m.labels is None)
    post = len(refs) - dropped
    limit = target.config.sample_limit
    if limit and post > limit:
        raise ScrapeFailed("sample limit exceeded")
    return Processed(keys, refs, samples.values, misses, post)


def _series_labels(key: str, target: Target) -> tuple[str, Labels | None]:
    """The scraped name and the stored label set of one series text; None when metric relabelling
    drops it. ParseError for a text that is not a series."""
    name, scraped = parse_series(key)
    scraped["__name__"] = name
    lb = merge_target_labels(scraped, target.labels, target.config.honor_labels)
    lb = relabel.process(lb, target.config.metric_relabel_configs)
    if lb is None or not lb.get("__name__"):
        return name, None
    limit = target.config.label_limit
    if limit and len(lb) > limit:
        raise ScrapeFailed(f"label_limit exceeded (metric: {lb['__name__'][:50]}, number of labels: {len(lb)}, "
                           f"limit: {limit})")
    return name, tuple(sorted(lb.items()))


def merge_target_labels(scraped: dict[str, str], target: dict[str, str], honor: bool) -> dict[str, str]:
    """Prometheus's ``mutateSampleLabels``: with ``honor_labels`` the scraped value of a clashing
    label wins; otherwise the target's does and the scraped one moves to ``exported_<name>``
    (``exported_exported_<name>`` if that is taken too)."""
    lb = dict(scraped)
    if honor:
        for name, value in target.items():
            lb.setdefault(name, value)
        return lb
    clashes = [(name, scraped[name]) for name in target if scraped.get(name)]
    lb.update(target)
    for name, value in clashes:
        new = "exported_" + name
        while new in scraped or new in target:
            new = "exported_" + new
        lb[new] = value
    return lb
