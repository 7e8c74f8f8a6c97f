"""Customers and incidents: the traffic generator, the business figures it produces, and the
failure episodes that interrupt it.

Every choice comes from one seeded ``random.Random``, so a run with the same seed makes the same
decisions (how many searches, which bookings complete, which episode comes next).
"""

from __future__ import annotations

import asyncio
import logging
import math
import random
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import aiohttp

from demo.services import DemoService, Fault

log = logging.getLogger(__name__)

TICK_S = 1.0
MAX_IN_FLIGHT = 32
REQUEST_TIMEOUT_S = 5.0
DRAIN_TIMEOUT_S = 2.0
CURRENCIES = (("EUR", 0.7), ("USD", 0.2), ("GBP", 0.1))
FUNNEL = ("search", "select", "checkout", "confirmed")
SATISFACTION_BUCKETS = (1.0, 2.0, 3.0, 4.0, 5.0)


@dataclass
class Business:
    """Business figures since the last push: counter increments, the gauge, histogram observations."""

    bookings: Counter[str] = field(default_factory=Counter)
    revenue: Counter[str] = field(default_factory=Counter)
    funnel: Counter[str] = field(default_factory=Counter)
    satisfaction: list[float] = field(default_factory=list)
    active_users: float = 0.0

    def drain(self) -> list[dict[str, Any]]:
        """The push API's items for what happened since the last call, then start again from zero."""
        items: list[dict[str, Any]] = [
            {"name": "active_users", "type": "gauge", "value": self.active_users, "labels": {"service": "booking"},
             "help": "Users active on the platform."}]
        items += [{"name": "bookings_total", "type": "counter", "value": n,
                   "labels": {"service": "booking", "status": status}, "help": "Bookings, by status."}
                  for status, n in sorted(self.bookings.items())]
        items += [{"name": "revenue_total", "type": "counter", "value": round(amount, 2),
                   "labels": {"service": "payment", "currency": currency}, "help": "Revenue taken, by currency."}
                  for currency, amount in sorted(self.revenue.items())]
        items += [{"name": "conversion_funnel_step_total", "type": "counter", "value": n,
                   "labels": {"funnel": "booking", "step": step}, "help": "Customers reaching each booking step."}
                  for step, n in sorted(self.funnel.items())]
        items += [{"name": "customer_satisfaction_score", "type": "histogram", "value": score,
                   "buckets": list(SATISFACTION_BUCKETS), "help": "Customer ratings from 1 to 5."}
                  for score in self.satisfaction]
        self.bookings.clear()
        self.revenue.clear()
        self.funnel.clear()
        self.satisfaction.clear()
        return items


@dataclass(frozen=True)
class Episode:
    """An incident: what it does to the services while it lasts."""

    name: str
    description: str
    duration_s: float
    begin: Callable[[dict[str, DemoService]], Awaitable[None]]
    end: Callable[[dict[str, DemoService]], Awaitable[None]]


async def _payment_errors(services: dict[str, DemoService]) -> None:
    services["payment"].fault = Fault(error_rate=0.6, extra_latency_s=1.5)


async def _payment_recovers(services: dict[str, DemoService]) -> None:
    services["payment"].fault = Fault()


async def _inventory_down(services: dict[str, DemoService]) -> None:
    await services["inventory"].pause()


async def _inventory_back(services: dict[str, DemoService]) -> None:
    await services["inventory"].resume()


async def _booking_slow(services: dict[str, DemoService]) -> None:
    services["booking"].fault = Fault(extra_latency_s=0.8)


async def _booking_recovers(services: dict[str, DemoService]) -> None:
    services["booking"].fault = Fault()


EPISODES = (
    Episode("payment-errors", "payment answers 5xx and slowly", 45.0, _payment_errors, _payment_recovers),
    # longer than ServiceDown's "for: 1m" after a 10 s check, so the alert fires and resolves
    Episode("inventory-outage", "inventory stops answering", 100.0, _inventory_down, _inventory_back),
    Episode("booking-latency", "booking's database is slow", 30.0, _booking_slow, _booking_recovers),
)
EPISODE_BY_NAME = {e.name: e for e in EPISODES}


class TrafficGenerator:
    """Customers searching and booking through the booking service, ``rate`` checkouts a second."""

    def __init__(self, booking_url: str, seed: int, rate: float) -> None:
        self.booking_url = booking_url
        self.rate = rate
        self.business = Business()
        self.sent = 0
        self.failed = 0
        self._rng = random.Random(seed)
        self._ticks = 0
        self._in_flight: set[asyncio.Task[None]] = set()
        self._unsettled = 0  # bookings created and not yet completed or cancelled
        self._session: aiohttp.ClientSession | None = None

    async def run(self) -> None:
        """One tick a second until cancelled; requests of a tick go out together, at most MAX_IN_FLIGHT."""
        self._session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=REQUEST_TIMEOUT_S))
        try:
            loop = asyncio.get_running_loop()
            next_tick = loop.time()
            while True:
                self.tick()
                next_tick += TICK_S
                await asyncio.sleep(max(0.0, next_tick - loop.time()))
        finally:  # customers already in the shop finish (briefly), so their outcome is counted
            if self._in_flight:
                await asyncio.wait(list(self._in_flight), timeout=DRAIN_TIMEOUT_S)
            for task in list(self._in_flight):
                task.cancel()
            await asyncio.gather(*self._in_flight, return_exceptions=True)
            await self._session.close()

    def tick(self) -> None:
        """This second's customers: their requests go out together."""
        for method, path, body in self.plan():
            self._send(method, path, body)

    def plan(self) -> list[tuple[str, str, dict[str, Any] | None]]:
        """This second's decisions, from the seeded generator only: settle earlier bookings, move the
        user count, and the requests to send (method, path, JSON body)."""
        rng = self._rng
        self._ticks += 1
        self._settle()
        wave = 1.0 + 0.3 * math.sin(self._ticks / 60.0)
        self.business.active_users = round(max(0.0, 40.0 * self.rate * wave + rng.gauss(0, 5)))
        checkouts = self._draw(self.rate * wave)
        searches = checkouts * 4 + self._draw(self.rate)
        selects = checkouts + self._draw(self.rate)
        self.business.funnel.update({"search": searches, "select": selects, "checkout": checkouts})
        requests: list[tuple[str, str, dict[str, Any] | None]] = [("GET", "/search", None)] * searches
        requests += [("GET", f"/bookings/{rng.randint(1, 10_000)}", None) for _ in range(selects)]
        for _ in range(checkouts):
            currency = rng.choices([c for c, _ in CURRENCIES], [w for _, w in CURRENCIES])[0]
            amount = round(rng.uniform(20.0, 400.0), 2)
            requests.append(("POST", "/bookings", {"seats": rng.randint(1, 4), "amount": amount, "currency": currency}))
        return requests

    def _draw(self, mean: float) -> int:
        """A whole number of events with the given mean (Poisson by Knuth's method: mean is small)."""
        limit, k, p = math.exp(-mean), 0, self._rng.random()
        while p > limit:
            k += 1
            p *= self._rng.random()
        return k

    def _settle(self) -> None:
        """Bookings created before this tick end: 90 % completed (with a rating), the rest cancelled."""
        for _ in range(self._unsettled):
            if self._rng.random() < 0.9:
                self.business.bookings["completed"] += 1
                self.business.satisfaction.append(float(self._rng.choices((5, 4, 3, 2, 1), (50, 30, 10, 6, 4))[0]))
            else:
                self.business.bookings["cancelled"] += 1
        self._unsettled = 0

    def _send(self, method: str, path: str, body: dict[str, Any] | None) -> None:
        if len(self._in_flight) >= MAX_IN_FLIGHT:  # a slow platform sheds customers, not memory
            self.failed += 1
            return
        task = asyncio.get_running_loop().create_task(self._request(method, path, body))
        self._in_flight.add(task)
        task.add_done_callback(self._in_flight.discard)

    async def _request(self, method: str, path: str, body: dict[str, Any] | None) -> None:
        assert self._session is not None
        self.sent += 1
        try:
            async with self._session.request(method, self.booking_url + path, json=body) as r:
                await r.read()
                status = r.status
        except (aiohttp.ClientError, TimeoutError):
            status = 0
        if body is None:
            return
        if status == 201:
            self.business.bookings["created"] += 1
            self.business.funnel["confirmed"] += 1
            self.business.revenue[body["currency"]] += body["amount"]
            self._unsettled += 1
        else:
            self.failed += 1
            self.business.satisfaction.append(1.0)  # a customer who could not book is not pleased
