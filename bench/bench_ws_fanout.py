"""WebSocket fan-out: one `system` update to 100 subscribed clients, time until the last has it.

The server runs in a child process collecting every 0.5 s; the clients share one process. For each
update we take the time from the server's event timestamp (the start of the collection cycle that
produced it) to the moment the last of the 100 clients received it.
"""

from __future__ import annotations

import asyncio
import json
import statistics
import time

import aiohttp
from serverproc import serve

CLIENTS = 100
UPDATES = 20


async def client(url: str, ready: asyncio.Barrier, arrivals: dict[float, list[float]]) -> None:
    async with aiohttp.ClientSession() as session, session.ws_connect(url) as ws:
        await ws.send_json({"type": "subscribe", "topics": ["system"]})
        await ws.receive()  # snapshot
        await ready.wait()
        while True:
            msg = json.loads((await ws.receive()).data)
            arrivals.setdefault(msg["ts"], []).append(time.time())
            if len(arrivals) > UPDATES:
                return


async def run(port: int) -> dict:
    url = f"http://127.0.0.1:{port}/ws"
    arrivals: dict[float, list[float]] = {}
    ready = asyncio.Barrier(CLIENTS)
    await asyncio.gather(*(client(url, ready, arrivals) for _ in range(CLIENTS)))
    complete = {ts: times for ts, times in arrivals.items() if len(times) == CLIENTS}
    last = [(max(times) - ts) * 1000 for ts, times in complete.items()]
    spread = [(max(times) - min(times)) * 1000 for times in complete.values()]
    return {"benchmark": "ws_fanout", "clients": CLIENTS, "updates": len(complete),
            "last_client_ms_after_cycle_start_median": round(statistics.median(last), 2),
            "last_client_ms_after_cycle_start_max": round(max(last), 2),
            "first_to_last_client_spread_ms_median": round(statistics.median(spread), 2)}


def main() -> None:
    with serve(COLLECTION_INTERVAL="0.5") as (_, port):
        result = asyncio.run(run(port))
    print(json.dumps(result))


if __name__ == "__main__":
    main()
