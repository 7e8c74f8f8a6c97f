"""The embedded console's start-up leaves out what its default does not use (issue 9's first frame and
RSS): no PyJWT or cryptography (auth is off on 127.0.0.1), no jsonschema (the console's requests carry
only parameters the plain checks pass), no protobuf (nothing is pushed). Each costs megabytes and tens
of milliseconds; a new top-level import of any of them would bring the cost back unnoticed."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

LAZY = ("jwt", "cryptography", "jsonschema", "google.protobuf")

# The CLI's embedded path (console/commands/console.py run()) up to the app: the same imports, the same
# settings, the server on 127.0.0.1 port 0; then the requests the console makes before its first frame,
# through its own client, and a parameter only jsonschema can refuse.
SCRIPT = """
import asyncio, dataclasses, json, sys
from console.cli import build_parser
from console.commands.common import settings_from
from console.embedded import EmbeddedServer

settings = settings_from(build_parser().parse_args(["console"]))
server = EmbeddedServer(dataclasses.replace(settings, host="127.0.0.1", port=0))
server.start()
from console.app import ConsoleApp
from console.client import ServerClient

LAZY = %r
url = server.wait_ready()

async def requests():
    client = ServerClient(url)
    out = {"me": await client.whoami(), "summary": await client.get("/api/metrics/summary"),
           "chart": await client.chart("cpu", 3600, 60)}
    loaded = [m for m in LAZY if m in sys.modules]
    bad = await client.get("/api/dashboard/charts/cpu", {"range": "1h", "step": "x" * 65})
    await client.aclose()
    return out, loaded, bad

try:
    replies, loaded, bad = asyncio.run(requests())
finally:
    server.stop()
print(json.dumps({"ok": {k: r.ok for k, r in replies.items()}, "auth": replies["me"].data.get("authEnabled"),
                  "loaded_at_start": loaded, "bad_status": bad.status, "bad_error": bad.error,
                  "jsonschema_after_bad": "jsonschema" in sys.modules}))
"""


def test_the_embedded_start_imports_no_auth_schema_or_protobuf_library(tmp_path: Path) -> None:
    root = Path(__file__).resolve().parents[2]
    env = {**os.environ, "DATA_DIR": str(tmp_path), "PYTHONPATH": str(root)}
    env = {k: v for k, v in env.items() if not k.startswith(("AUTH_", "JWT_", "API_KEYS"))}
    r = subprocess.run([sys.executable, "-c", SCRIPT % (LAZY,)], capture_output=True, text=True, timeout=120,
                       env=env, cwd=tmp_path, stdin=subprocess.DEVNULL)
    assert r.returncode == 0, r.stderr[-3000:]
    out = json.loads(r.stdout.strip().splitlines()[-1])
    assert out["ok"] == {"me": True, "summary": True, "chart": True}
    assert out["auth"] is False
    assert out["loaded_at_start"] == []
    # Laziness defers the check, never skips it: a value the plain check cannot pass goes to jsonschema.
    assert out["bad_status"] == 400
    assert "step" in out["bad_error"]
    assert out["jsonschema_after_bad"] is True
