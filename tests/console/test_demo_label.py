"""A server started by the demo says so, and the console labels its data in the top bar."""

from __future__ import annotations

import pytest

from console.embedded import EmbeddedServer
from engine.settings import load_settings
from tests.console.conftest import make_app, settled, wait_for
from tests.console.test_app import screen_text


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
