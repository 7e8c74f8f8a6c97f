"""The console against a server with authentication on: it sends its token, shows who it is logged in
as, and says plainly when the server wants a token or refuses the one it has."""

from __future__ import annotations

import asyncio
import os
import threading
import time

import pytest

from console.app import ConsoleApp
from console.client import Backoff, LinkState, ServerClient
from console.token_source import TOKEN_ENV, find_token, token_file_in_use, token_path
from engine.clock import FixedClock
from server.auth.tokens import create_token
from tests.console.conftest import T0, FedServer, settled, wait_for

SECRET = "console-secret-" + "c" * 32


@pytest.fixture(scope="module")
def secured(tmp_path_factory):
    server = FedServer(tmp_path_factory.mktemp("auth-console"), env={
        "AUTH_ENABLED": "true", "JWT_SECRET": SECRET, "RATE_LIMIT": "off", "AUTH_FAILURE_LIMIT": "off"}).start()
    server.settings = server.embedded.settings
    yield server
    server.stop()


def console(url: str, token: str | None, token_file=None) -> ConsoleApp:
    client = ServerClient(url, backoff=Backoff(0.05, 0.2), token=token, token_file=token_file)
    return ConsoleApp(client, clock=FixedClock(T0), address="metrics.example:3000", theme="dark")


def screen_text(app: ConsoleApp) -> str:
    return "\n".join(strip.text for strip in app.screen._compositor.render_strips())


async def test_with_a_token_it_connects_and_shows_who_it_is(secured):
    token = create_token(secured.settings, "alice", "operator", 3600, time.time())
    app = console(secured.url, token)
    async with app.run_test(size=(120, 30)) as pilot:
        await wait_for(pilot, lambda: settled(app), "the first data")
        await wait_for(pilot, lambda: "alice · operator" in screen_text(app), "who it is logged in as")
        reply = await app.client.silence([{"name": "alertname", "value": "X", "isRegex": False}], "1h", "pilot")
        assert reply.ok and reply.data["silence"]["createdBy"] == "alice"  # the token's subject, not $USER@host


async def test_without_a_token_it_says_the_server_wants_one(secured):
    app = console(secured.url, None)
    async with app.run_test(size=(200, 30)) as pilot:
        await wait_for(pilot, lambda: "the server needs a token (HTTP 401)" in screen_text(app), "the 401 on screen")
        assert TOKEN_ENV in screen_text(app)
        assert app.link.state == LinkState.RECONNECTING and app.is_running
        reply = await app.client.alerts()
        assert not reply.ok and "401" in reply.error and "needs a bearer token" in reply.error


async def test_a_refused_token_is_told_apart_from_a_missing_one(secured):
    app = console(secured.url, create_token(secured.settings, "alice", "viewer", 3600, time.time()) + "x")
    async with app.run_test(size=(200, 30)) as pilot:
        await wait_for(pilot, lambda: "the server refused the token (HTTP 401)" in screen_text(app), "the refusal")


async def test_with_auth_off_no_identity_is_shown(fed_server):
    app = console(fed_server.url, None)
    async with app.run_test(size=(120, 30)) as pilot:
        await wait_for(pilot, lambda: settled(app), "the first data")
        assert app.who is None and " · operator" not in screen_text(app)


def test_the_token_comes_from_the_option_then_the_environment_then_the_file(tmp_path):
    env = {"XDG_CONFIG_HOME": str(tmp_path)}
    assert find_token(None, env) is None
    path = token_path(env)
    assert path == tmp_path / "metrics-service" / "token"
    path.parent.mkdir(parents=True)
    path.write_text("from-file\n")
    assert find_token(None, env) == "from-file"
    assert find_token(None, {**env, TOKEN_ENV: "from-env"}) == "from-env"
    assert find_token("from-option", {**env, TOKEN_ENV: "from-env"}) == "from-option"
    for bad, source in (("two words", "--token"), ("é", "--token"), ("x" * 9000, "--token")):
        with pytest.raises(ValueError, match=source):
            find_token(bad, env)
    path.write_text("a\nb\n")
    with pytest.raises(ValueError, match=str(path)):
        find_token(None, env)


async def test_an_expired_token_renewed_in_the_token_file_is_taken_without_a_restart(secured, tmp_path):
    """The token file's token expired: the banner says so and where a new one goes; once one is
    written there the stream comes back as its subject, without restarting the console."""
    path = tmp_path / "token"
    path.write_text(create_token(secured.settings, "alice", "operator", 60, time.time() - 3600))
    app = console(secured.url, path.read_text(), token_file=path)
    async with app.run_test(size=(220, 30)) as pilot:
        await wait_for(pilot, lambda: "the server refused the token (HTTP 401)" in screen_text(app), "the refusal")
        assert app.link.reason.endswith(f"; a new one written to {path} is taken at the next try")
        path.write_text(create_token(secured.settings, "bob", "operator", 3600, time.time()) + "\n")
        await wait_for(pilot, lambda: settled(app), "live again")
        await wait_for(pilot, lambda: "bob · operator" in screen_text(app), "the new token's subject")


async def test_a_request_refused_for_its_token_is_sent_again_with_the_token_files_new_one(secured, tmp_path):
    path = tmp_path / "token"
    expired = create_token(secured.settings, "alice", "viewer", 60, time.time() - 3600)
    path.write_text(expired)
    client = ServerClient(secured.url, token=expired, token_file=path)
    try:
        refused = await client.whoami()
        assert not refused.ok and refused.status == 401  # the file holds the same expired token
        path.write_text(create_token(secured.settings, "bob", "viewer", 3600, time.time()))
        replies = await asyncio.gather(*(client.whoami() for _ in range(5)))  # as the charts are fetched
        assert [(r.ok, r.data.get("subject") if r.data else None) for r in replies] == [(True, "bob")] * 5
        assert (await client.alerts()).ok  # the shared client sends the new token from now on
    finally:
        await client.aclose()


async def test_a_token_file_that_blocks_does_not_freeze_the_console(secured, tmp_path):
    """A home on a hung network mount: the token file is a FIFO nobody writes yet, so reading it
    blocks. The event loop (the screen, the stream) must keep answering meanwhile; then the token
    arrives and the request goes through with it."""
    path = tmp_path / "token"
    os.mkfifo(path)
    expired = create_token(secured.settings, "alice", "viewer", 60, time.time() - 3600)
    renewed = create_token(secured.settings, "bob", "viewer", 3600, time.time())
    loop = asyncio.get_running_loop()
    loop_answered: list[bool] = []

    async def answer() -> bool:
        return True

    def writer() -> None:
        with path.open("w") as fifo:  # returns once the console opened the file to read it
            try:
                loop_answered.append(asyncio.run_coroutine_threadsafe(answer(), loop).result(timeout=5))
            except TimeoutError:
                loop_answered.append(False)
            fifo.write(renewed)

    client = ServerClient(secured.url, token=expired, token_file=path)
    thread = threading.Thread(target=writer, daemon=True)
    thread.start()
    try:
        reply = await client.whoami()
        assert reply.ok and reply.data["subject"] == "bob"
        assert loop_answered == [True]
    finally:
        await client.aclose()
        thread.join(10)


def test_only_a_token_from_the_file_is_read_again(tmp_path):
    env = {"XDG_CONFIG_HOME": str(tmp_path)}
    assert token_file_in_use(None, env) == token_path(env)
    assert token_file_in_use(None, {**env, TOKEN_ENV: "from-env"}) is None
    assert token_file_in_use("from-option", env) is None


async def test_the_fleets_clients_also_take_the_token_files_new_token(secured, tmp_path):
    from console.fleet import Fleet

    path = tmp_path / "token"
    expired = create_token(secured.settings, "alice", "viewer", 60, time.time() - 3600)
    path.write_text(create_token(secured.settings, "carol", "viewer", 3600, time.time()))
    fleet = Fleet([secured.url], expired, token_file=path)
    try:
        reply = await fleet.clients[secured.url].whoami()
        assert reply.ok and reply.data["subject"] == "carol"
    finally:
        await fleet.aclose()
