"""WebSocket fan-out: one `system` update to 100 subscribed clients, time until the last has it.

The server runs in a child process collecting every 0.5 s; the clients share one process. For each
update we take the time from the server's event timestamp (the start of the collection cycle that
produced it) to the moment the last of the 100 clients received it.
"""

from __future__ import annotations

import asyncio
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import aiohttp
import httpx

ROOT = Path(__file__).resolve().parent.parent
CLIENTS = 100
UPDATES = 20


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


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
    port = free_port()
    with tempfile.TemporaryDirectory() as tmp:
        env = {**os.environ, "PYTHONPATH": str(ROOT), "DATA_DIR": tmp, "PORT": str(port),
               "COLLECTION_INTERVAL": "0.5"}
        proc = subprocess.Popen([sys.executable, "-c", "import sys; from console.cli import main; "
                                 "sys.exit(main(['serve']))"], env=env, stderr=subprocess.DEVNULL)
        try:
            for _ in range(200):
                try:
                    httpx.get(f"http://127.0.0.1:{port}/livez", timeout=1)
                    break
                except httpx.TransportError:
                    time.sleep(0.05)
            result = asyncio.run(run(port))
        finally:
            proc.terminate()
            proc.wait(15)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
