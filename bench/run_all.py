"""Run every benchmark in this folder; each prints one JSON object on its own line."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent


def main() -> int:
    only = set(sys.argv[1:])
    failed = 0
    for script in sorted(HERE.glob("bench_*.py")):
        name = script.stem.removeprefix("bench_")
        if only and name not in only:
            continue
        result = subprocess.run([sys.executable, str(script)], cwd=HERE.parent, capture_output=True, text=True)
        if result.returncode != 0:
            failed += 1
            tail = result.stderr.strip().splitlines()[-1:]
            print(json.dumps({"benchmark": name, "error": tail[0] if tail else f"exit {result.returncode}"}))
        else:
            print(result.stdout.strip().splitlines()[-1], flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
