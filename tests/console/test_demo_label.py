"""A server started by the demo says so, and the console labels its data in the top bar."""

from __future__ import annotations

import pytest

from console.embedded import EmbeddedServer
from console.screens import SCREEN_BY_ID
from engine.settings import load_settings
from tests.console.conftest import make_app, settled, wait_for
from tests.console.test_app import screen_text
from tests.console.test_cli import Terminal


@pytest.fixture
def demo_server(tmp_path):
    settings = load_settings(env={"DATA_DIR": str(tmp_path / "data"), "PORT": "0", "DEMO": "true",
                                  "COLLECTION_INTERVAL": "1"}, dotenv_path=None)
    server = EmbeddedServer(settings)
    server.start()
    yield server.wait_ready()
    server.stop()


async def test_the_top_bar_labels_demo_data_at_80_columns(demo_server):
    app = make_app(demo_server)
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_for(pilot, lambda: settled(app) and app.demo, "the server's demo marker")
        await wait_for(pilot, lambda: "DEMO DATA" in screen_text(app).splitlines()[0], "the label in the top bar")


async def test_real_data_has_no_demo_label(fed_server):
    app = make_app(fed_server.url)
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_for(pilot, lambda: settled(app), "the first data")
        await wait_for(pilot, lambda: not any(w.group == "summary" for w in app.workers), "the summary request")
        assert app.demo is False
        assert "DEMO DATA" not in screen_text(app)


@pytest.fixture
def demo_terminal(tmp_path):
    """``metrics-service --demo`` in a real pty, on a data dir of the test's own."""
    term = Terminal(["--demo", "--data-dir", str(tmp_path), "--episode-every", "0", "--rate", "3"], {}, 120, 40)
    yield term
    term.close()


def test_console_demo_fills_services_and_business_and_q_stops_everything(demo_terminal, tmp_path):
    if not {"services", "business"} <= set(SCREEN_BY_ID):
        pytest.skip("the Services and Business screens (engineer V) are not registered yet")
    term = demo_terminal
    term.wait_for("DEMO DATA", "● live", timeout=60)
    term.press(b"6")
    term.wait_for("booking", "payment", "inventory", "notification", timeout=60)
    term.press(b"7")
    term.wait_for("completed", "EUR", "confirmed", timeout=60)
    term.press(b"q")
    assert term.proc.wait(60) == 0
    assert "Traceback" not in term.text
    log = (tmp_path / "console.log").read_text()
    assert "Traceback" not in log and "refused" not in log


def test_console_demo_on_a_running_demo_joins_it_instead_of_starting_a_second_platform(tmp_path):
    import re
    import subprocess
    import time

    import httpx

    from tests.console.test_cli import CLI

    demo = subprocess.Popen([*CLI, "demo", "--data-dir", str(tmp_path), "--episode-every", "0"],
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL, text=True)
    term = None
    try:
        lines: list[str] = []
        deadline = time.monotonic() + 60
        while not any(line.startswith("Ctrl-C stops") for line in lines):
            assert time.monotonic() < deadline and demo.poll() is None, lines
            lines.append(demo.stdout.readline())
        server = re.search(r"^  server\s+(\S+)", "".join(lines), re.M).group(1)
        term = Terminal(["--demo", "--data-dir", str(tmp_path)], {}, 120, 40)
        term.wait_for("DEMO DATA", server.removeprefix("http://"), "● live", timeout=60)
        targets = httpx.get(server + "/api/targets", timeout=10).json()["entries"]
        assert sorted(t["job"] for t in targets) == ["booking", "inventory", "notification", "payment"]
        term.press(b"q")
        assert term.proc.wait(60) == 0
        assert len(httpx.get(server + "/api/targets", timeout=10).json()["entries"]) == 4  # the demo's, untouched
    finally:
        if term is not None:
            term.close()
        demo.terminate()
        demo.wait(60)
