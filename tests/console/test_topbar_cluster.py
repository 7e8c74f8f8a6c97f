"""The top bar against two real replicas sharing a real redis-server: it names the replica the console
talks to and the leader, and that field is the first to give way at 80 columns. A single server
shows none (the snapshots, taken against single servers, stay as they were)."""

from __future__ import annotations

from console.widgets.topbar import TopBar
from tests.console.conftest import make_app, wait_for
from tests.integration.conftest import redis_server, replicas  # noqa: F401 (fixtures)
from tests.integration.replicas import until
from tests.integration.test_cluster import agreed


def text(widget) -> str:
    return str(widget.render())


def short(name: str) -> str:
    return name if len(name) <= 20 else name[:19] + "…"


async def test_the_top_bar_names_the_replica_and_the_leader(replicas):  # noqa: F811
    members = [replicas(name) for name in ("a", "b")]
    leader = await until(lambda: agreed(members), "two replicas agreeing on a leader")
    follower = next(m for m in members if m.id != leader)
    app = make_app(follower.url)
    async with app.run_test(size=(200, 30)) as pilot:
        bar = app.screen.query_one(TopBar)
        field = bar.query_one("#replica")
        await wait_for(pilot, lambda: field.display and text(field) == f"replica {short(follower.id)} · leader "
                       f"{short(leader)}", "the replica and the leader", attempts=1500)
        assert not field.has_class("-squeezed")
        await pilot.resize_terminal(80, 24)
        await wait_for(pilot, lambda: field.has_class("-squeezed"), "the replica giving way")
        assert "live" in text(bar.query_one("#link"))


async def test_a_single_server_shows_no_replica(own_server):
    app = make_app(own_server().url)
    async with app.run_test(size=(200, 30)) as pilot:
        bar = app.screen.query_one(TopBar)
        await wait_for(pilot, lambda: "live" in text(bar.query_one("#link")), "the live link")
        await app._fetch_cluster().wait()  # its answer: one replica, itself
        await pilot.pause()
        assert app.replica is None and not bar.query_one("#replica").display
