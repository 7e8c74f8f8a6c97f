"""Schemathesis against the served OpenAPI document, on a real socket with authentication on and an
admin token: no 5xx, and every answer (status, media type, body) as the document declares.

The figures come from the server's own http_requests_total, read from /metrics after the run."""

from __future__ import annotations

import asyncio
import os
import re
import sys
import time
from pathlib import Path

import httpx
import pytest

from server.auth.tokens import create_token
from server.openapi.operations import OPERATIONS
from server.runner import start_server
from tests.integration.conftest import make_settings

HERE = Path(__file__).resolve().parent
ST = Path(sys.executable).with_name("st")
SECRET = "fuzz-secret-" + "0" * 32
SKIPPED_CHECKS = "positive_data_acceptance"
"""Every check but this one: data the schema allows may still be refused by the handlers' domain rules
(a PromQL text, a duration, an unknown id). Among those run: no 5xx, status, media type, body and headers
as documented, invalid data refused (4xx), credentials not ignored (401 without the token)."""
MAX_EXAMPLES = 5
"""Per operation and phase; with the coverage phase's boundary cases about 1,900 requests. Schemathesis
takes ~17 s of CPU and the server about as much: 40 s on two idle cores, 90 s under a load of 7."""
_SAMPLE = re.compile(r'^http_requests_total\{([^}]*)\} (\S+)$', re.M)
_LABEL = re.compile(r'(\w+)="([^"]*)"')


def served_requests(exposition: str) -> list[tuple[str, str, str, float]]:
    """(method, route, status, count) of every http_requests_total sample."""
    out = []
    for labels, value in _SAMPLE.findall(exposition):
        label = dict(_LABEL.findall(labels))
        out.append((label["method"], label["route"], label["status"], float(value)))
    return out


@pytest.mark.skipif(not ST.exists(), reason="schemathesis is not installed (pip install -e '.[test]')")
async def test_schemathesis_finds_no_5xx_and_no_answer_off_the_document(tmp_path):
    settings = make_settings(tmp_path, auth_enabled="true", jwt_secret=SECRET, rate_limit="off",
                             rate_limit_ingest="off", auth_failure_limit="off")
    token = create_token(settings, "fuzzer", "admin", 3600, time.time())
    running = await start_server(settings)
    try:
        started = time.monotonic()
        proc = await asyncio.create_subprocess_exec(
            str(ST), "run", f"{running.url}/api-docs/openapi.json", "--exclude-checks", SKIPPED_CHECKS,
            "--max-examples", str(MAX_EXAMPLES), "--seed", "1", "--generation-database", "none",
            "--header", f"Authorization: Bearer {token}", "--request-timeout", "60", "--workers", "2", "--no-color",
            "--suppress-health-check", "all", "--warnings", "off",
            cwd=tmp_path, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
            env={**os.environ, "SCHEMATHESIS_HOOKS": "schemathesis_hooks",
                 "PYTHONPATH": os.pathsep.join([str(HERE), os.environ.get("PYTHONPATH", "")])})
        output, _ = await asyncio.wait_for(proc.communicate(), timeout=900)
        seconds = time.monotonic() - started
        report = output.decode(errors="replace")
        async with httpx.AsyncClient(base_url=running.url, timeout=30) as client:
            exposition = (await client.get("/metrics", headers={"Authorization": f"Bearer {token}"})).text
    finally:
        await running.stop()
    samples = [s for s in served_requests(exposition) if s[1] != "/metrics"]
    total = sum(n for *_, n in samples)
    errors = {(m, r, s): n for m, r, s, n in samples if s.startswith("5")}
    operations = {(m, r) for m, r, _, _ in samples}
    print(f"\nschemathesis: {total:.0f} requests over {len(operations)} operations in {seconds:.0f} s; "
          f"5xx: {sum(errors.values()):.0f}\n{report[-1500:]}")
    assert proc.returncode == 0, report[-20000:]
    assert not errors, errors
    assert total >= 1000
    tested = re.search(r"Tested: (\d+)", report)  # schemathesis leaves out the one serving its document
    assert tested is not None and int(tested[1]) == len(OPERATIONS) - 1, report[-3000:]
