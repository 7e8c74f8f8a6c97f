"""The server's own http_* and process_* series: live on /metrics, stored once per collection."""

from __future__ import annotations

import re

import httpx

from server.runner import start_server
from tests.integration.conftest import make_settings

OWN_SAMPLES = ("sum(count_over_time(process_resident_memory_bytes[1h]))"
               " + (sum(count_over_time(http_requests_total[1h])) or vector(0))")


async def stored_own_samples(client: httpx.AsyncClient) -> float:
    body = (await client.get("/api/v1/query", params={"query": OWN_SAMPLES})).json()
    assert body["status"] == "success", body
    return float(body["data"]["result"][0]["value"][1])


async def test_scrapes_add_no_samples_between_collections_and_still_count_themselves(tmp_path):
    # One collection at start, the next an hour later: none happens during the test.
    server = await start_server(make_settings(tmp_path, collection_interval=3600))
    try:
        async with httpx.AsyncClient(base_url=server.url, timeout=10) as client:
            before = await stored_own_samples(client)
            assert before > 0  # the collection at start stored them once
            for _ in range(20):
                assert (await client.get("/metrics")).status_code == 200
            assert await stored_own_samples(client) == before
            text = (await client.get("/metrics")).text
            scrapes = re.search(r'^http_requests_total\{[^}]*route="/metrics"[^}]*status="200"[^}]*\} (\S+)$',
                                text, re.M)
            assert scrapes is not None and float(scrapes.group(1)) == 20  # this scrape is counted when it ends
            queries = re.search(r'^http_requests_total\{[^}]*route="/api/v1/query"[^}]*\} (\S+)$', text, re.M)
            assert queries is not None and float(queries.group(1)) == 2  # the live counter, not the stored one
    finally:
        await server.stop()
