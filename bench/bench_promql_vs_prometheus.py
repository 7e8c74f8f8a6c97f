"""Our PromQL engine next to the real Prometheus on the same data (issue 4, "Benchmarks").

The data is bench_promql.py's (its generators are imported): node_cpu_seconds_total counters and
http_request_duration_seconds_bucket histograms scraped every 15 s, 1k and 10k series for the
instant queries, 1k series over 70 minutes for the 1 h range query at 15 s step, 1k series over
130 minutes for a subquery (``max_over_time(rate(...[5m])[1h:1m])``, 1 h range at 15 s step), and
1k CPU counters over 24 h for a 24 h range query at 60 s step that our store reads from disk (the
store is closed after loading and reopened, so its head holds none of the samples). Each data set
is written as OpenMetrics text, turned into TSDB blocks with ``promtool tsdb create-blocks-from
openmetrics``, and served by a ``prometheus`` bound to 127.0.0.1 (stopped at the end). Our data
directory is served by ``metrics-service serve`` in a child process on 127.0.0.1 (no flushes during
the run, so its head holds what the in-process store's does). The same queries are timed over
HTTP against both servers (the issue's fair comparison: same client, JSON answers) and
in-process against our QueryEngine, and the result series and values of Prometheus are compared
with both of ours. Prints one JSON object.
"""

from __future__ import annotations

import json
import math
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
from contextlib import ExitStack
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench_promql import (  # noqa: E402
    BOUNDS,
    CPU_QUERY,
    HISTOGRAM_QUERY,
    NOW_MS,
    SCRAPE_MS,
    bucket_series,
    cpu_series,
    fill,
)
from serverproc import serve  # noqa: E402

from engine.compat.strconv import format_float_f  # noqa: E402
from engine.promql import QueryEngine  # noqa: E402
from engine.tsdb.sqlite import SQLiteBackend  # noqa: E402
from engine.tsdb.store import Store  # noqa: E402
from server.runner import tune_runtime  # noqa: E402

PROMTOOL = "/usr/bin/promtool"
PROMETHEUS = "/usr/bin/prometheus"
RUNS = 7
READY_TIMEOUT_S = 60
QUERIES = {"cpu_rate_sum": CPU_QUERY, "histogram_quantile": HISTOGRAM_QUERY}
# (name, series per family, minutes of data, what to run): the same shapes as bench_promql.py
SUBQUERY = "max_over_time(rate(node_cpu_seconds_total[5m])[1h:1m])"
# (name, series per family, minutes of data, queries, range seconds and step (0: instant), both
# families (else the CPU counters only), reopen our store so that its samples come from disk)
DATASETS = (("instant_1000", 1_000, 6, QUERIES, (0, 0), True, False),
            ("instant_10000", 10_000, 6, QUERIES, (0, 0), True, False),
            ("range_1h_15s_1000", 1_000, 70, QUERIES, (3600, 15), True, False),
            ("subquery_1h_15s_1000", 1_000, 130, {"max_over_time_rate_subquery": SUBQUERY}, (3600, 15), False, False),
            ("range_24h_60s_1000_from_disk", 1_000, 24 * 60 + 10, {"cpu_rate_sum": CPU_QUERY}, (86_400, 60), False,
             True))
REL_TOLERANCE = 1e-9


def label_text(labels: tuple) -> tuple[str, str]:
    """The metric name and the ``{...}`` part of one series, OpenMetrics-escaped."""
    name = ""
    parts = []
    for key, value in labels:
        if key == "__name__":
            name = value
            continue
        escaped = value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')
        parts.append(f'{key}="{escaped}"')
    return name, "{" + ",".join(parts) + "}"


def sample_values(labels: list[tuple], minutes: int, histogram: bool):
    """The (timestamp ms, [value per series]) scrapes ``bench_promql.fill`` appends, in time order."""
    scrapes = minutes * 60_000 // SCRAPE_MS + 1
    steps = [(j % len(BOUNDS) + 1) if histogram else (j % 7 + 1) * 0.25 for j in range(len(labels))]
    for k in range(scrapes):
        t = NOW_MS - (scrapes - 1 - k) * SCRAPE_MS
        yield t, [k * step + j % 3 for j, step in enumerate(steps)]


def families(count: int, both: bool) -> list[tuple[str, str, list[tuple], bool]]:
    """(OpenMetrics family, type, series labels, histogram) of the data set's families."""
    out = [("node_cpu_seconds", "counter", cpu_series(count), False)]
    if both:
        out.append(("http_request_duration_seconds", "histogram", bucket_series(count), True))
    return out


def write_openmetrics(path: Path, count: int, minutes: int, both: bool) -> int:
    """The families as OpenMetrics text, every series' samples in time order; returns samples."""
    written = 0
    with path.open("w") as out:
        for family, kind, labels, histogram in families(count, both):
            out.write(f"# TYPE {family} {kind}\n")
            prefixes = ["".join(label_text(lb)) + " " for lb in labels]
            for t, values in sample_values(labels, minutes, histogram):
                stamp = f" {t // 1000}" if t % 1000 == 0 else f" {t / 1000:.3f}"
                out.write("".join(f"{prefix}{format_float_f(float(v))}{stamp}\n"
                                  for prefix, v in zip(prefixes, values, strict=True)))
                written += len(values)
        out.write("# EOF\n")
    return written


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def http_json(url: str, timeout: float = 30) -> dict:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as resp:
            return json.loads(resp.read())
    except urllib.error.HTTPError as err:  # Prometheus's error envelope comes with a 4xx/5xx
        return json.loads(err.read())


def http_timed(url: str, runs: int = RUNS) -> tuple[list[float], dict]:
    """Wall times in ms of ``runs`` GETs of ``url`` (to the last byte of the answer, plus json.loads),
    with the medians of those two parts and the answer's size, and the last answer's ``data``."""
    total, last_byte, decode = [], [], []
    body: dict = {}
    for _ in range(runs):
        start = time.perf_counter()
        with urllib.request.urlopen(url, timeout=120) as resp:
            raw = resp.read()
        read = time.perf_counter()
        body = json.loads(raw)
        done = time.perf_counter()
        total.append((done - start) * 1000)
        last_byte.append((read - start) * 1000)
        decode.append((done - read) * 1000)
    if body.get("status") != "success":
        raise RuntimeError(f"{url}: {body}")
    parts = {"to_last_byte_median_ms": round(statistics.median(last_byte), 2),
             "client_json_decode_median_ms": round(statistics.median(decode), 2), "response_bytes": len(raw)}
    return total, {"parts": parts, "data": body["data"]}


def timed(fn, runs: int = RUNS) -> tuple[list[float], object]:
    """Wall times in ms of ``runs`` calls, and the last call's result."""
    samples, result = [], None
    for _ in range(runs):
        start = time.perf_counter()
        result = fn()
        samples.append((time.perf_counter() - start) * 1000)
    return samples, result


def summary(samples: list[float]) -> dict:
    return {"median_ms": round(statistics.median(samples), 2), "best_ms": round(min(samples), 2)}


class Prometheus:
    """A prometheus process over one TSDB directory, listening on 127.0.0.1 only."""

    def __init__(self, tsdb: Path, workdir: Path) -> None:
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        config = workdir / "prometheus.yml"
        config.write_text("global:\n  scrape_interval: 15s\n  evaluation_interval: 15s\nscrape_configs: []\n")
        self.log = (workdir / "prometheus.log").open("w")
        self.proc = subprocess.Popen(
            [PROMETHEUS, f"--storage.tsdb.path={tsdb}", f"--config.file={config}",
             f"--web.listen-address=127.0.0.1:{self.port}", "--storage.tsdb.retention.time=100y"],
            stdout=self.log, stderr=subprocess.STDOUT, cwd=workdir)

    def wait_ready(self) -> float:
        """Seconds until /-/ready answers 200."""
        start = time.monotonic()
        while time.monotonic() - start < READY_TIMEOUT_S:
            if self.proc.poll() is not None:
                raise RuntimeError(f"prometheus exited with {self.proc.returncode}; see {self.log.name}")
            try:
                with urllib.request.urlopen(self.base + "/-/ready", timeout=2) as resp:
                    if resp.status == 200:
                        return time.monotonic() - start
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                pass
            time.sleep(0.1)
        raise RuntimeError("prometheus not ready in time")

    def query(self, path: str, **params) -> dict:
        body = http_json(f"{self.base}{path}?{urllib.parse.urlencode(params)}")
        if body.get("status") != "success":
            raise RuntimeError(f"prometheus {path} {params}: {body}")
        return body["data"]

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()


def ours_points(result) -> dict:
    """{labels: [(t, value)...]} of one of our results."""
    if result.result_type == "vector":
        return {tuple(sorted(s.labels.items())): [(result.timestamp, s.value)] for s in result.value}
    return {tuple(sorted(s.labels.items())): list(s.points) for s in result.value}


def prom_points(data: dict) -> dict:
    if data["resultType"] == "vector":
        return {tuple(sorted(r["metric"].items())): [(float(r["value"][0]), float(r["value"][1]))]
                for r in data["result"]}
    return {tuple(sorted(r["metric"].items())): [(float(t), float(v)) for t, v in r["values"]]
            for r in data["result"]}


def same_value(a: float, b: float) -> bool:
    if math.isnan(a) or math.isnan(b):
        return math.isnan(a) and math.isnan(b)
    return a == b or abs(a - b) <= REL_TOLERANCE * max(abs(a), abs(b))


def compare(ours: dict, theirs: dict) -> dict:
    """Series counts, and how many series/points differ (labels or values)."""
    out: dict[str, object] = {"ours_series": len(ours), "prometheus_series": len(theirs),
                              "series_count_match": len(ours) == len(theirs)}
    only_ours = [k for k in ours if k not in theirs]
    only_theirs = [k for k in theirs if k not in ours]
    differing_points = 0
    worst = 0.0
    for key in ours.keys() & theirs.keys():
        a, b = dict(ours[key]), dict(theirs[key])
        for t in a.keys() | b.keys():
            if t not in a or t not in b or not same_value(a[t], b[t]):
                differing_points += 1
                if t in a and t in b and not (math.isnan(a[t]) or math.isnan(b[t])):
                    worst = max(worst, abs(a[t] - b[t]) / max(abs(a[t]), abs(b[t]), 1e-300))
    out["values_match"] = not only_ours and not only_theirs and differing_points == 0
    if not out["values_match"]:
        out["series_only_in_ours"] = len(only_ours)
        out["series_only_in_prometheus"] = len(only_theirs)
        out["differing_points"] = differing_points
        out["worst_relative_difference"] = worst
        if only_ours[:1] or only_theirs[:1]:
            out["example_only_in_ours"] = dict(only_ours[0]) if only_ours else None
            out["example_only_in_prometheus"] = dict(only_theirs[0]) if only_theirs else None
    return out


OUR_SERVER = {"FLUSH_INTERVAL": "100y", "METRICS_TTL": "100y"}
"""The server must neither move the loaded samples to disk nor purge them (they are from 2023)
while it is measured."""


def wait_for_data(query, path: str, params: dict) -> None:
    """A server may still be loading right after it answers: wait until the query finds data."""
    deadline = time.monotonic() + 60
    while not query(path, **params)["result"] and time.monotonic() < deadline:
        time.sleep(0.2)


def head_samples(store: Store, labels: list[tuple]) -> int:
    """Samples our store holds in memory for these series (the rest it reads from disk)."""
    return sum(len(store.series(store.known_ref(lb)).ts) for lb in labels)


def run_dataset(root: Path, dataset: tuple, figures: dict, mismatches: list[str]) -> None:
    name, count, minutes, queries, (range_s, step_s), both, reopen = dataset
    work = root / name
    work.mkdir()
    info: dict[str, object] = {"series_per_family": count, "families": 2 if both else 1, "minutes_of_data": minutes}
    start = time.perf_counter()
    om = work / "data.om"
    info["samples"] = write_openmetrics(om, count, minutes, both)
    info["openmetrics_write_s"] = round(time.perf_counter() - start, 2)
    tsdb = work / "tsdb"
    tsdb.mkdir()
    start = time.perf_counter()
    subprocess.run([PROMTOOL, "tsdb", "create-blocks-from", "openmetrics", "--quiet", str(om), str(tsdb)],
                   check=True, capture_output=True, text=True)
    info["promtool_create_blocks_s"] = round(time.perf_counter() - start, 2)
    om.unlink()

    # our engine, loaded as bench_promql.py loads it
    ours_dir = work / "ours"
    ours_dir.mkdir()
    store = Store(SQLiteBackend(str(ours_dir)))
    store.open()
    prom = None
    ours_server = ExitStack()
    try:
        start = time.perf_counter()
        for _, _, labels, histogram in families(count, both):
            fill(store, labels, minutes, histogram=histogram)
        info["ours_load_s"] = round(time.perf_counter() - start, 2)
        if not reopen:
            # the samples to the WAL without closing any window, as a server's shutdown leaves
            # them: reopened, the head (ours in-process and the server's) holds all of them again
            start = time.perf_counter()
            store.close(NOW_MS)
            store = Store(SQLiteBackend(str(ours_dir)))
            store.open()
            info["ours_persist_and_reopen_s"] = round(time.perf_counter() - start, 2)
        else:
            start = time.perf_counter()
            # a flush as a server's later on would do it: every window closed into chunks on disk
            # and the head trimmed past its retention; the reopened store replays none of it
            later = NOW_MS + store.head_retention_ms + store.window_ms + store.close_grace_ms
            store.flush(later)
            store.close(later)
            store = Store(SQLiteBackend(str(ours_dir)))
            store.open()
            info["ours_close_and_reopen_s"] = round(time.perf_counter() - start, 2)
        info["ours_head_samples_at_query_time"] = head_samples(
            store, [lb for _, _, labels, _ in families(count, both) for lb in labels])
        engine = QueryEngine(store)

        prom = Prometheus(tsdb, work)
        info["prometheus_ready_s"] = round(prom.wait_ready(), 2)
        start = time.perf_counter()
        ours_http = ours_server.enter_context(serve(data_dir=ours_dir, stderr=work / "ours.log", **OUR_SERVER))[1]
        info["ours_server_ready_s"] = round(time.perf_counter() - start, 2)

        def ours_query(path: str, **params) -> dict:
            body = http_json(f"http://127.0.0.1:{ours_http}{path}?{urllib.parse.urlencode(params)}", timeout=120)
            if body.get("status") != "success":
                raise RuntimeError(f"ours {path} {params}: {body}")
            return body["data"]

        end = NOW_MS / 1000
        for qname, expr in queries.items():
            if not range_s:
                ours_fn = lambda e=expr: engine.instant(e, end)  # noqa: E731
                params = {"query": expr, "time": f"{end:.3f}"}
                path = "/api/v1/query"
            else:
                ours_fn = lambda e=expr: engine.range(e, end - range_s, end, step_s)  # noqa: E731
                params = {"query": expr, "start": f"{end - range_s:.3f}", "end": f"{end:.3f}", "step": str(step_s)}
                path = "/api/v1/query_range"
            wait_for_data(prom.query, path, params)
            wait_for_data(ours_query, path, params)
            prom.query(path, **params)  # warm-up, as our engine gets one below
            ours_fn()
            ours_samples, ours_result = timed(ours_fn)
            json_samples, _ = timed(lambda f=ours_fn: f().to_json())
            query_string = f"{path}?{urllib.parse.urlencode(params)}"
            http_samples, ours_answer = http_timed(f"http://127.0.0.1:{ours_http}{query_string}")
            prom_samples, prom_answer = http_timed(prom.base + query_string)
            http_data, prom_data = ours_answer["data"], prom_answer["data"]
            stats_data = [prom.query(path, **params, stats="all")["stats"]["timings"] for _ in range(RUNS)]
            entry = {
                "query": expr,
                "ours_http": summary(http_samples) | ours_answer["parts"],
                "ours_in_process": summary(ours_samples),
                "ours_in_process_plus_json_encoding": summary(json_samples),
                "prometheus_http": summary(prom_samples) | prom_answer["parts"],
                "prometheus_exec_total_from_stats": summary([s["execTotalTime"] * 1000 for s in stats_data]),
            }
            entry["ratio_ours_http_over_prometheus_http_median"] = round(
                entry["ours_http"]["median_ms"] / max(entry["prometheus_http"]["median_ms"], 1e-9), 2)
            entry["ratio_ours_plus_json_over_prometheus_http_median"] = round(
                entry["ours_in_process_plus_json_encoding"]["median_ms"]
                / max(entry["prometheus_http"]["median_ms"], 1e-9), 2)
            entry["check"] = compare(ours_points(ours_result), prom_points(prom_data))
            entry["check_http"] = compare(prom_points(http_data), prom_points(prom_data))
            for label, check in (("in-process", entry["check"]), ("http", entry["check_http"])):
                if not check["series_count_match"]:
                    mismatches.append(f"{name}/{qname} ({label}): SERIES COUNT MISMATCH ours={check['ours_series']} "
                                      f"prometheus={check['prometheus_series']}")
                elif not check["values_match"]:
                    mismatches.append(f"{name}/{qname} ({label}): values differ ({check})")
            figures[f"{name}_{qname}"] = entry
    finally:
        ours_server.close()
        if prom is not None:
            prom.stop()
        store.backend.close()
    figures[f"{name}_setup"] = info
    shutil.rmtree(work, ignore_errors=True)


def prometheus_version() -> str:
    out = subprocess.run([PROMETHEUS, "--version"], capture_output=True, text=True)
    return (out.stdout or out.stderr).splitlines()[0] if (out.stdout or out.stderr) else "unknown"


def main() -> None:
    if not (os.access(PROMTOOL, os.X_OK) and os.access(PROMETHEUS, os.X_OK)):
        print(json.dumps({"benchmark": "promql_vs_prometheus", "skipped": "promtool/prometheus not installed"}))
        return
    tune_runtime()
    only = set(sys.argv[1:])  # data set names to run (all by default)
    started = time.perf_counter()
    figures: dict[str, object] = {
        "benchmark": "promql_vs_prometheus",
        "prometheus_version": prometheus_version(),
        "scrape_interval_s": SCRAPE_MS // 1000,
        "evaluation_time_unix_s": NOW_MS / 1000,
        "runs_per_figure": RUNS,
        "note": ("prometheus_http and ours_http are the wall times of an HTTP GET to 127.0.0.1 (/api/v1/query or "
                 "/api/v1/query_range) of the same client, so they include HTTP handling and the server's JSON "
                 "encoding plus our urllib client and json.loads of the answer (their medians apart: "
                 "to_last_byte_median_ms and client_json_decode_median_ms, the latter the same work for the same "
                 "response_bytes; ours_http: `metrics-service serve` over the same data directory, in its own "
                 "process); ours_in_process is QueryEngine called "
                 "directly in this process with no encoding (ours_in_process_plus_json_encoding adds "
                 "QueryResult.to_json(), the bytes our HTTP API sends; the ratio compares it with "
                 "prometheus_http). prometheus_exec_total_from_stats is Prometheus's own "
                 "execTotalTime from stats=all (engine only, no encoding). Prometheus runs multi-threaded "
                 "in Go; our engine single-threaded in CPython. Both engines answer from warm data (one "
                 "warm-up query first); median and best of the runs are given."),
    }
    mismatches: list[str] = []
    with tempfile.TemporaryDirectory(prefix="bench-promql-vs-prom-") as tmp:
        for dataset in DATASETS:
            if not only or dataset[0] in only:
                run_dataset(Path(tmp), dataset, figures, mismatches)
    figures["result_mismatches"] = mismatches
    figures["all_results_match"] = not mismatches
    figures["total_run_s"] = round(time.perf_counter() - started, 1)
    for line in mismatches:
        print(f"MISMATCH: {line}", file=sys.stderr)
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
