"""A scrape target: its labels as Prometheus 2.42 builds them (``populateLabels``), its scrape URL,
its health, and the cache that turns each scraped series text into its final label set.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from urllib.parse import urlencode

from engine.compat.durations import format_duration
from engine.scrape import relabel
from engine.scrape.config import ScrapeConfig, TargetGroup
from engine.scrape.exposition import ParseError, ScrapedFamily, parse_series
from engine.tsdb.types import Family

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
    cache: dict[str, tuple[str, dict[str, str]] | None] = field(default_factory=dict, repr=False)

    @property
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


Series = tuple[str, dict[str, str]]
"""A stored series as admission takes it: the metric name and the other labels."""


@dataclass(slots=True)
class Processed:
    """A scrape's families with their final series, and the figures Prometheus reports for it."""

    families: list[Family]
    scraped: int
    post_relabel: int
    added: int
    cache: dict[str, Series | None]


def process(target: Target, families: list[ScrapedFamily]) -> Processed:
    """Map each scraped series through the target's cache (labels are parsed, merged with the
    target's and relabelled only for a series text not seen in the previous scrape); enforce
    ``label_limit`` and ``sample_limit``. Pure: runs on a worker thread. Raises ScrapeFailed."""
    old = target.cache
    cache: dict[str, Series | None] = {}
    out: list[Family] = []
    scraped = post = added = 0
    for fam in families:
        rows: list[tuple[str, dict[str, str], float]] = []
        for key, value in fam.samples:
            if key in old:
                series = old[key]
            elif key in cache:
                series = cache[key]
            else:
                series = _series_labels(key, target)
                added += series is not None
            cache[key] = series
            if series is not None:
                rows.append((series[0], series[1], value))
        scraped += len(fam.samples)
        post += len(rows)
        if rows:
            out.append(Family(fam.name, fam.type, fam.help, fam.unit, rows))
    limit = target.config.sample_limit
    if limit and post > limit:
        raise ScrapeFailed("sample limit exceeded")
    return Processed(out, scraped, post, added, cache)


def _series_labels(key: str, target: Target) -> Series | None:
    """The stored name and labels of one scraped series text; None when metric relabelling drops it."""
    try:
        name, scraped = parse_series(key)
    except ParseError as exc:
        raise ScrapeFailed(str(exc)) from None
    scraped["__name__"] = name
    lb = merge_target_labels(scraped, target.labels, target.config.honor_labels)
    lb = relabel.process(lb, target.config.metric_relabel_configs)
    if lb is None or not lb.get("__name__"):
        return None
    limit = target.config.label_limit
    if limit and len(lb) > limit:
        raise ScrapeFailed(f"label_limit exceeded (metric: {lb['__name__'][:50]}, number of labels: {len(lb)}, "
                           f"limit: {limit})")
    name = lb.pop("__name__")
    return name, lb


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
