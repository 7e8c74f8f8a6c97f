"""What shapes a demo run (kept free of heavy imports: the CLI reads the defaults for --help)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class DemoOptions:
    seed: int = 1
    rate: float = 2.0
    """Checkouts per second on average (searches and page views come with them)."""
    episode_every: float = 180.0
    """Seconds between failure episodes; 0 for none."""
    push_interval: float = 5.0
    scrape_interval: str = "5s"
    check_interval: str = "10s"
    redis_url: str = "redis://127.0.0.1:6379"
    postgres_url: str = "postgres://postgres@127.0.0.1:5432/postgres"
    """The platform's databases, as the local Redis and PostgreSQL: health-checked, not used by the services."""
