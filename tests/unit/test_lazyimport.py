"""A lazily imported module is whole for every thread that reads it first at the same moment (query
threads starting together: with importlib's LazyLoader on Python 3.11, some saw a half-executed numpy
and the chart requests answered 500)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

# In a fresh interpreter (this one has numpy loaded already): eight threads read the lazy module at once.
SCRIPT = """
import json, sys, threading
from engine.lazyimport import LazyModule

np = LazyModule("numpy")
loaded_before = "numpy" in sys.modules
barrier = threading.Barrier(8)
results = []

def first_use():
    barrier.wait()
    try:
        results.append(np.frombuffer(bytes(16), dtype=np.int64).tolist())
    except Exception as exc:
        results.append(repr(exc))

threads = [threading.Thread(target=first_use) for _ in range(8)]
for t in threads:
    t.start()
for t in threads:
    t.join()
print(json.dumps({"loaded_before": loaded_before, "results": results, "linalg": np.linalg.norm([3.0, 4.0])}))
"""


def test_threads_reading_a_lazy_module_first_at_once_all_get_the_whole_module() -> None:
    root = Path(__file__).resolve().parents[2]
    for _ in range(3):
        r = subprocess.run([sys.executable, "-c", SCRIPT], capture_output=True, text=True, timeout=60,
                           env={**os.environ, "PYTHONPATH": str(root)}, stdin=subprocess.DEVNULL)
        assert r.returncode == 0, r.stderr[-2000:]
        out = json.loads(r.stdout)
        assert out["loaded_before"] is False
        assert out["results"] == [[0, 0]] * 8
        assert out["linalg"] == 5.0  # a submodule numpy itself loads on first use
