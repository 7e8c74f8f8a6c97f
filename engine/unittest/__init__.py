"""``promtool test rules`` files run against our query engine, read and judged as promtool 2.42 does.

The same files run through the real promtool, so every expectation in them is Prometheus's own.
"""

from engine.unittest.report import run_file, run_files

__all__ = ["run_file", "run_files"]
