"""The one way the console talks to a server: HTTP requests (httpx) and the /ws stream (aiohttp).

Nothing here raises a network or server error into the screens: requests return a ``Reply`` and the
stream turns every failure into a ``Link`` (state plus the reason in words) and reconnects by itself
with exponential backoff until it is cancelled.
"""

from __future__ import annotations

import asyncio
import errno
import json
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import aiohttp

from console.token_source import TOKEN_ENV, read_token_file, token_path

if TYPE_CHECKING:
    from pathlib import Path

    import httpx

HEARTBEAT_S = 10.0
"""WebSocket pings: a dead peer behind a NAT or an SSH tunnel is noticed within 1.5x this."""
REQUEST_TIMEOUT_S = 10.0


class LinkState(StrEnum):
    CONNECTING = "connecting"
    LIVE = "live"
    RECONNECTING = "reconnecting"
    PAUSED = "paused"


@dataclass(frozen=True)
class Link:
    """What the top bar shows about the connection."""

    state: LinkState
    reason: str = ""
    """Why the stream is down, in words (empty when live)."""
    retry_in: float | None = None


@dataclass(frozen=True)
class Reply:
    """A request's outcome: the JSON body, or an error in words."""

    data: Any = None
    error: str = ""
    details: Any = None
    """The API error's ``details`` (e.g. the field a 400 names), for a form to show next to the field."""
    status: int | None = None
    """The HTTP status of an error answer (a fleet tells "unauthorized" from "down" by it)."""

    @property
    def ok(self) -> bool:
        return not self.error


@dataclass(frozen=True)
class Backoff:
    """Delays between reconnection attempts: first, doubling, capped."""

    first: float = 0.5
    cap: float = 10.0

    def delay(self, attempt: int) -> float:
        return min(self.cap, self.first * 2 ** min(attempt, 30))


EventHandler = Callable[[str, str, float, Any], None]
"""Called as handler(kind, topic, ts, data) for each snapshot or update message."""
LinkHandler = Callable[[Link], None]


def normalise_url(url: str) -> str:
    """``host:port`` or ``http(s)://host[:port][/prefix]`` to a base URL; ValueError names what is wrong."""
    text = url.strip()
    if "://" not in text:
        text = f"http://{text}"
    parts = urlsplit(text)
    if parts.scheme not in ("http", "https"):
        raise ValueError(f"{url!r}: the scheme must be http or https")
    if not parts.hostname:
        raise ValueError(f"{url!r}: no host name")
    try:
        parts.port  # noqa: B018 -- raises ValueError for a port out of range or not a number
    except ValueError:
        raise ValueError(f"{url!r}: the port is not a number between 0 and 65535") from None
    return f"{parts.scheme}://{parts.netloc}{parts.path.rstrip('/')}"


def describe_error(exc: BaseException) -> str:
    """A failure in words an operator can act on, without a traceback."""
    import httpx

    if isinstance(exc, aiohttp.WSServerHandshakeError):
        return f"the server refused the WebSocket (HTTP {exc.status})"
    if isinstance(exc, aiohttp.ClientConnectorDNSError):
        return f"host {exc.host} not found"
    if isinstance(exc, aiohttp.ClientConnectorError):
        if exc.os_error.errno == errno.ECONNREFUSED:
            return "connection refused"
        return f"cannot connect: {exc.os_error.strerror or exc.os_error}"
    if isinstance(exc, (TimeoutError, httpx.TimeoutException)):
        return "timed out"
    if isinstance(exc, httpx.ConnectError):
        return "cannot connect: " + (str(exc) or "connection failed")
    if isinstance(exc, (aiohttp.ClientError, httpx.HTTPError, OSError)):
        return str(exc) or type(exc).__name__
    return f"{type(exc).__name__}: {exc}"


def _error_message(response: httpx.Response) -> str:
    """The message of the API's ``{"error": {...}}`` or ``{"error": "..."}`` body, or the status line."""
    try:
        error = response.json()["error"]
        message = error if isinstance(error, str) else error["message"]  # str: Prometheus's /api/v1 envelope
    except (ValueError, KeyError, TypeError):
        message = response.reason_phrase
    return f"server answered {response.status_code}: {message}"


def _error_details(response: httpx.Response) -> Any:
    """The ``details`` of the API's error envelope, or None."""
    try:
        error = response.json()["error"]
    except (ValueError, KeyError, TypeError):
        return None
    return error.get("details") if isinstance(error, dict) else None


class ServerClient:
    """A connection to one server. Create it anywhere; its sessions are opened on first use, inside
    the running loop, and closed by ``aclose``."""

    def __init__(self, base_url: str, *, topics: tuple[str, ...] = ("system",), backoff: Backoff | None = None,
                 timeout: float = REQUEST_TIMEOUT_S, token: str | None = None, token_file: Path | None = None) -> None:
        self.base_url = normalise_url(base_url)
        self.topics = topics
        self.followed: tuple[str, ...] = ()
        """The visible screen's own topics (``follow``), subscribed on top of ``topics``."""
        self.backoff = backoff or Backoff()
        self.timeout = timeout
        self.paused = False
        self._http: httpx.AsyncClient | None = None
        self._ws: aiohttp.ClientWebSocketResponse | None = None
        self._on_link: LinkHandler | None = None
        self.link = Link(LinkState.CONNECTING)
        self.token = token
        """Sent as ``Authorization: Bearer`` on every request and on the WebSocket handshake."""
        self.token_file = token_file
        """Where the token came from, read again after a refusal (``renew_token``); None for a token
        given on the command line or in the environment."""

    @property
    def address(self) -> str:
        """``host:port`` as shown in the top bar."""
        parts = urlsplit(self.base_url)
        return parts.netloc + parts.path

    @property
    def auth_headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"} if self.token else {}

    async def renew_token(self) -> bool:
        """After a 401: take the token file's token if it is a new one (renewed since the console
        started, or written there after the server asked for one). Read in a thread: a home on a
        hung network mount must not freeze the screen."""
        if self.token_file is None:
            return False
        try:
            token = await asyncio.to_thread(read_token_file, self.token_file)
        except ValueError:
            return False
        if token is None or token == self.token:
            return False
        self.token = token
        if self._http is not None:
            self._http.headers.update(self.auth_headers)
        return True

    def refusal(self, status: int) -> str | None:
        """What a 401 or 403 from the server means for this console, in words; None for other statuses."""
        if status == 401 and self.token:
            renew = f"; a new one written to {self.token_file} is taken at the next try" if self.token_file else ""
            return f"the server refused the token (HTTP 401): it may have expired, or be for another server{renew}"
        if status == 401:
            return (f"the server needs a token (HTTP 401): give --token, set {TOKEN_ENV} or write it to "
                    f"{token_path()}")
        if status == 403:
            return "the token's role may not do this (HTTP 403)"
        return None

    async def whoami(self) -> Reply:
        """``{"subject", "role", "kind", "authEnabled"}``: who the server takes this console for."""
        return await self.get("/api/auth/me")

    @property
    def ws_url(self) -> str:
        return self.base_url.replace("http", "ws", 1) + "/ws"

    async def get(self, path: str, params: dict[str, str] | None = None) -> Reply:
        """GET a JSON endpoint; any failure comes back as ``Reply.error``."""
        import httpx

        try:
            response = await self._send_http("GET", path, params=params)
        except httpx.HTTPError as exc:
            return Reply(error=describe_error(exc))
        if response.status_code >= 400:
            return Reply(error=_error_message(response), status=response.status_code)
        try:
            return Reply(data=response.json())
        except ValueError:
            return Reply(error=f"{path}: the server did not answer JSON")

    async def _send_http(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        """One request on the shared client, made on first use (httpx is not needed for the first frame
        and costs ~60 ms to import); a 401 is sent once more when the token file holds a new token."""
        import httpx

        if self._http is None:
            # Plain http has nothing to verify, and loading the CA bundle costs ~0.1 s of start-up.
            self._http = httpx.AsyncClient(base_url=self.base_url, timeout=self.timeout,
                                           verify=self.base_url.startswith("https://"), headers=self.auth_headers)
        sent_with = self.token
        response = await self._http.request(method, path, **kwargs)
        if response.status_code == 401 and (self.token != sent_with or await self.renew_token()):
            response = await self._http.request(method, path, **kwargs)  # another request may have renewed it
        return response

    async def chart(self, kind: str, range_s: int, step_s: int) -> Reply:
        """One history chart as the server's chart API draws it (the same PromQL, the same points):
        ``{"type", "start", "end", "step", "series": [{"labels", "points"}]}``."""
        return await self.get(f"/api/dashboard/charts/{_segment(kind)}", {"range": f"{range_s}s", "step": f"{step_s}s"})

    async def stream(self, on_event: EventHandler, on_link: LinkHandler) -> None:
        """Hold the /ws stream open until cancelled, reconnecting with backoff after any failure."""
        self._on_link = on_link
        self._set_link(Link(LinkState.CONNECTING))
        attempt = 0
        async with aiohttp.ClientSession() as session:
            while True:
                try:
                    async with session.ws_connect(self.ws_url, heartbeat=HEARTBEAT_S, headers=self.auth_headers,
                                                  timeout=aiohttp.ClientWSTimeout(ws_close=2.0),
                                                  max_msg_size=16 * 2**20) as ws:
                        self._ws = ws
                        attempt = 0
                        if self.paused:
                            self._set_link(Link(LinkState.PAUSED))
                        else:
                            await self._send("subscribe")
                        reason = await self._receive(ws, on_event)
                except asyncio.CancelledError:
                    raise
                except aiohttp.WSServerHandshakeError as exc:
                    if exc.status == 401 and await self.renew_token():
                        continue
                    reason = self.refusal(exc.status) or describe_error(exc)
                except Exception as exc:  # every failure of a connection is reported, then retried
                    reason = describe_error(exc)
                finally:
                    self._ws = None
                delay = self.backoff.delay(attempt)
                attempt += 1
                self._set_link(Link(LinkState.RECONNECTING, reason, delay))
                await asyncio.sleep(delay)

    async def _receive(self, ws: aiohttp.ClientWebSocketResponse, on_event: EventHandler) -> str:
        """Dispatch messages until the socket ends; the reason it ended, in words."""
        async for msg in ws:
            if msg.type != aiohttp.WSMsgType.TEXT:
                continue
            try:
                message = json.loads(msg.data)
                kind, topic = message["type"], message.get("topic", "")
            except (ValueError, KeyError, TypeError):
                continue  # not ours to crash on: the server's own tests cover its messages
            if kind not in ("snapshot", "update") or self.paused:
                continue
            if self.link.state != LinkState.LIVE:
                self._set_link(Link(LinkState.LIVE))
            on_event(kind, topic, float(message.get("ts") or 0.0), message.get("data"))
        if ws.exception() is not None:
            return describe_error(ws.exception())
        return "the server closed the connection"

    def _set_link(self, link: Link) -> None:
        if link != self.link:
            self.link = link
            if self._on_link is not None:
                self._on_link(link)

    async def _send(self, kind: str, topics: tuple[str, ...] | None = None) -> None:
        if self._ws is not None and not self._ws.closed:
            try:
                await self._ws.send_json({"type": kind, "topics": list(topics or (*self.topics, *self.followed))})
            except (aiohttp.ClientError, ConnectionError):
                pass  # the receive loop sees the broken socket and reconnects

    async def set_paused(self, paused: bool) -> None:
        """Stop or restart live updates. Pausing unsubscribes, so a paused console costs the link
        nothing; resuming subscribes again and the server's snapshot brings the state back to live."""
        if paused == self.paused:
            return
        self.paused = paused
        if self._ws is None:
            return  # the stream is down: it reports "reconnecting", and subscribes when back
        await self._send("unsubscribe" if paused else "subscribe")
        if paused:
            self._set_link(Link(LinkState.PAUSED))

    async def follow(self, topics: tuple[str, ...]) -> None:
        """Make ``topics`` the followed ones: subscribe to the new, unsubscribe from the old. Topics
        that cost the server a set of queries per cycle (application, business) are followed only
        while a screen shows them, so a console elsewhere costs the server nothing for them."""
        old, self.followed = self.followed, tuple(topics)
        if self._ws is None or self.paused:
            return  # (re)subscribed with the rest when the stream is back or resumed
        dropped = tuple(t for t in old if t not in topics and t not in self.topics)
        added = tuple(t for t in topics if t not in old and t not in self.topics)
        if dropped:
            await self._send("unsubscribe", dropped)
        if added:
            await self._send("subscribe", added)

    async def aclose(self) -> None:
        if self._http is not None:
            await self._http.aclose()
            self._http = None

    # -- alerts and rules: every action names who acts (X-User), every failure is a Reply --------

    @property
    def user(self) -> str:
        """``$USER@hostname``: the server records it as who acknowledged, resolved or silenced."""
        import getpass
        import socket

        try:
            name = getpass.getuser()
        except (KeyError, OSError):
            name = "unknown"
        return f"{name}@{socket.gethostname()}"

    async def request(self, method: str, path: str, body: Any = None, params: dict[str, str] | None = None) -> Reply:
        """Any JSON request with the X-User header; a 204 or empty body comes back as ``{}``."""
        import httpx

        try:
            response = await self._send_http(method, path, json=body, params=params, headers={"X-User": self.user})
        except httpx.HTTPError as exc:
            return Reply(error=describe_error(exc))
        if response.status_code >= 400:
            return Reply(error=_error_message(response), details=_error_details(response))
        try:
            return Reply(data=response.json() if response.content else {})
        except ValueError:
            return Reply(error=f"{path}: the server did not answer JSON")

    async def alerts(self, state: str = "pending,firing", sort: str = "severity") -> Reply:
        return await self.get("/api/alerts", {"state": state, "sort": sort})

    async def alert(self, alert_id: str) -> Reply:
        return await self.get(f"/api/alerts/{alert_id}")

    async def acknowledge(self, alert_id: str, comment: str = "", expires_in: str | None = None) -> Reply:
        body: dict[str, Any] = {"comment": comment}
        if expires_in:
            body["expiresIn"] = expires_in
        return await self.request("POST", f"/api/alerts/{alert_id}/acknowledge", body)

    async def resolve(self, alert_id: str, comment: str = "") -> Reply:
        return await self.request("POST", f"/api/alerts/{alert_id}/resolve", {"comment": comment})

    async def silence(self, matchers: list[dict[str, Any]], duration: str, comment: str = "") -> Reply:
        return await self.request("POST", "/api/alerts/silences",
                                  {"matchers": matchers, "duration": duration, "comment": comment})

    async def silences(self) -> Reply:
        return await self.get("/api/alerts/silences")

    async def update_silence(self, silence_id: str, matchers: list[dict[str, Any]], duration: str,
                             comment: str) -> Reply:
        """Edit or extend: the reply's silence may be a new one (other matchers)."""
        return await self.request("PUT", f"/api/alerts/silences/{silence_id}",
                                  {"matchers": matchers, "duration": duration, "comment": comment})

    async def expire_silence(self, silence_id: str) -> Reply:
        return await self.request("DELETE", f"/api/alerts/silences/{silence_id}")

    async def rules(self) -> Reply:
        return await self.get("/api/alerts/rules")

    async def create_rule(self, body: dict[str, Any]) -> Reply:
        return await self.request("POST", "/api/alerts/rules", body)

    async def update_rule(self, rule_id: str, body: dict[str, Any]) -> Reply:
        return await self.request("PUT", f"/api/alerts/rules/{rule_id}", body)

    async def delete_rule(self, rule_id: str) -> Reply:
        return await self.request("DELETE", f"/api/alerts/rules/{rule_id}")

    async def query(self, expr: str) -> Reply:
        """An instant PromQL query: the rule editor's validation and preview."""
        return await self.get("/api/v1/query", {"query": expr})

    async def query_range(self, expr: str, start: float, end: float, step: float) -> Reply:
        return await self.get("/api/v1/query_range",
                              {"query": expr, "start": f"{start:.3f}", "end": f"{end:.3f}", "step": f"{step:g}"})

    async def rule(self, rule_id: str) -> Reply:
        return await self.get(f"/api/alerts/rules/{rule_id}")

    async def targets(self) -> Reply:
        """Scrape targets in Prometheus's shape: ``{"activeTargets": [...], "droppedTargets": [...]}``."""
        return await self.prom_get("/api/v1/targets")

    # -- Explore: Prometheus's /api/v1 envelope, its error text shown to the user as is ----------

    async def prom_get(self, path: str, params: dict[str, str] | None = None) -> Reply:
        """GET an /api/v1 endpoint: ``Reply.data`` is the envelope's ``data``; an error answer
        (400 bad_data for a bad expression) becomes ``"bad_data: <the parser's message>"`` with its
        status (422 execution and 503 timeout are valid expressions that failed to run)."""
        import httpx

        try:
            response = await self._send_http("GET", path, params=params)
        except httpx.HTTPError as exc:
            return Reply(error=describe_error(exc))
        try:
            body = response.json()
        except ValueError:
            return Reply(error=f"server answered {response.status_code}: {response.reason_phrase}")
        if not isinstance(body, dict) or body.get("status") != "success":
            error = body.get("error") if isinstance(body, dict) else None
            if not isinstance(error, str):
                return Reply(error=f"server answered {response.status_code}: {response.reason_phrase}")
            return Reply(error=f"{body.get('errorType') or 'error'}: {error}", status=response.status_code)
        return Reply(data=body.get("data"))

    async def prom_query(self, expr: str, at: float | None = None) -> Reply:
        params = {"query": expr} if at is None else {"query": expr, "time": f"{at:.3f}"}
        return await self.prom_get("/api/v1/query", params)

    async def prom_query_range(self, expr: str, start: float, end: float, step: int) -> Reply:
        return await self.prom_get("/api/v1/query_range",
                                   {"query": expr, "start": f"{start:.3f}", "end": f"{end:.3f}", "step": str(step)})

    async def label_names(self, match: str | None = None) -> Reply:
        """Label names (of the series ``match`` selects, when given)."""
        return await self.prom_get("/api/v1/labels", {"match[]": match} if match else None)

    async def label_values(self, name: str, match: str | None = None) -> Reply:
        """Values of one label (of the series ``match`` selects, when given); ``__name__`` gives
        the metric names."""
        from urllib.parse import quote

        return await self.prom_get(f"/api/v1/label/{quote(name, safe='')}/values",
                                   {"match[]": match} if match else None)

    # -- health checks: a check is named in the URL, so its name is quoted as one path segment ---

    async def health(self) -> Reply:
        """The overall status: the worst state, counts per state, the server's readiness."""
        return await self.get("/api/health")

    async def health_services(self) -> Reply:
        return await self.get("/api/health/services")

    async def health_service(self, name: str) -> Reply:
        """One check with its recent history."""
        return await self.get(f"/api/health/services/{_segment(name)}")

    async def create_check(self, body: dict[str, Any]) -> Reply:
        return await self.request("POST", "/api/health/services", body)

    async def update_check(self, name: str, body: dict[str, Any]) -> Reply:
        return await self.request("PUT", f"/api/health/services/{_segment(name)}", body)

    async def delete_check(self, name: str) -> Reply:
        return await self.request("DELETE", f"/api/health/services/{_segment(name)}")

    async def check_now(self, name: str | None = None) -> Reply:
        """Run one named check (or all of them) now and answer with the result."""
        return await self.request("POST", "/api/health/check", {"name": name} if name else {})

    # -- notifications: channels, the test message and the delivery log -------------------------

    async def notification_channels(self) -> Reply:
        """Channels with their health and queue length (secrets never come back)."""
        return await self.get("/api/notifications/channels")

    async def test_channel(self, name: str) -> Reply:
        """Send a test message through one channel now; the receiver's answer (``ok``, ``status``,
        ``response``, ``error``, ``durationSeconds``)."""
        return await self.request("POST", f"/api/notifications/channels/{_segment(name)}/test")

    async def notifications(self, alert: str | None = None, limit: int = 100) -> Reply:
        """The delivery log, newest first; ``alert`` (an id or fingerprint) keeps that alert's deliveries."""
        params = {"limit": str(limit), **({"alert": alert} if alert else {})}
        return await self.get("/api/notifications", params)

    async def notification(self, entry_id: int) -> Reply:
        """One delivery with the payload sent and the receiver's response."""
        return await self.get(f"/api/notifications/{int(entry_id)}")


def _segment(name: str) -> str:
    from urllib.parse import quote

    return quote(name, safe="")
