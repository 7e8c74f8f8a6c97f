"""The host at a glance: current values and per-second rates derived from node_* series."""

from __future__ import annotations

from typing import Any

from engine.rates import last_rate
from engine.tsdb.matchers import Matcher
from engine.tsdb.store import SeriesData, Store
from engine.tsdb.types import is_stale

IDLE_MODES = ("idle", "iowait")


def _select(store: Store, name: str, now_ms: int) -> list[SeriesData]:
    return store.select([Matcher.make("__name__", "=", name)], now_ms - store.lookback_ms, now_ms)


def _latest(series: SeriesData) -> float | None:
    v = series.vals[-1]
    return None if v != v and is_stale(v) else v


def _gauges(store: Store, name: str, key: str, now_ms: int) -> dict[str, float]:
    out = {}
    for s in _select(store, name, now_ms):
        v = _latest(s)
        if v is not None:
            out[dict(s.labels).get(key, "")] = v
    return out


def _gauge(store: Store, name: str, now_ms: int) -> float | None:
    return _gauges(store, name, "__name__", now_ms).get(name)


def _rates(store: Store, name: str, key: str, now_ms: int) -> dict[str, float]:
    out = {}
    for s in _select(store, name, now_ms):
        r = last_rate(s.ts, s.vals, now_ms, store.lookback_ms)
        if r is not None:
            out[dict(s.labels).get(key, "")] = r
    return out


def _percent(part: float | None, whole: float | None) -> float | None:
    if part is None or not whole:
        return None
    return round(100.0 * part / whole, 2)


def cpu_view(store: Store, now_ms: int) -> dict[str, Any]:
    per_core: dict[str, dict[str, float]] = {}
    for s in _select(store, "node_cpu_seconds_total", now_ms):
        labels = dict(s.labels)
        r = last_rate(s.ts, s.vals, now_ms, store.lookback_ms)
        if r is not None:
            per_core.setdefault(labels.get("cpu", ""), {})[labels.get("mode", "")] = r
    cores = []
    busy_sum = total_sum = 0.0
    for cpu in sorted(per_core, key=lambda c: int(c) if c.isdigit() else 1 << 30):
        modes = per_core[cpu]
        total = sum(modes.values())
        busy = total - sum(modes.get(m, 0.0) for m in IDLE_MODES)
        busy_sum += busy
        total_sum += total
        cores.append({
            "cpu": cpu,
            "usage_percent": _percent(busy, total),
            "modes": {m: _percent(v, total) for m, v in sorted(modes.items())},
        })
    return {"usage_percent": _percent(busy_sum, total_sum), "count": len(cores), "cores": cores}


def memory_view(store: Store, now_ms: int) -> tuple[dict[str, Any], dict[str, Any]]:
    def g(field: str) -> float | None:
        return _gauge(store, f"node_memory_{field}_bytes", now_ms)

    total, avail = g("MemTotal"), g("MemAvailable")
    used = total - avail if total is not None and avail is not None else None
    memory = {
        "total_bytes": total, "available_bytes": avail, "used_bytes": used, "free_bytes": g("MemFree"),
        "buffers_bytes": g("Buffers"), "cached_bytes": g("Cached"), "used_percent": _percent(used, total),
    }
    stotal, sfree = g("SwapTotal"), g("SwapFree")
    sused = stotal - sfree if stotal is not None and sfree is not None else None
    swap = {"total_bytes": stotal, "free_bytes": sfree, "used_bytes": sused, "used_percent": _percent(sused, stotal)}
    return memory, swap


def filesystems_view(store: Store, now_ms: int) -> list[dict[str, Any]]:
    mounts: dict[str, dict[str, Any]] = {}
    for field in ("size", "free", "avail"):
        for s in _select(store, f"node_filesystem_{field}_bytes", now_ms):
            v = _latest(s)
            if v is None:
                continue
            labels = dict(s.labels)
            entry = mounts.setdefault(labels.get("mountpoint", ""), {
                "mountpoint": labels.get("mountpoint", ""), "device": labels.get("device", ""),
                "fstype": labels.get("fstype", ""),
            })
            entry[f"{field}_bytes"] = v
    out = []
    for mount in sorted(mounts):
        e = mounts[mount]
        size, free = e.get("size_bytes"), e.get("free_bytes")
        used = size - free if size is not None and free is not None else None
        avail = e.get("avail_bytes")
        e["used_bytes"] = used
        # df's Use%: used / (used + available to unprivileged users)
        e["used_percent"] = _percent(used, used + avail) if used is not None and avail is not None else None
        out.append(e)
    return out


def _per_device(store: Store, now_ms: int, fields: dict[str, str]) -> list[dict[str, Any]]:
    devices: dict[str, dict[str, Any]] = {}
    for out_field, metric in fields.items():
        for device, r in _rates(store, metric, "device", now_ms).items():
            devices.setdefault(device, {"device": device})[out_field] = r
    return [devices[d] for d in sorted(devices)]


def disks_view(store: Store, now_ms: int) -> list[dict[str, Any]]:
    disks = _per_device(store, now_ms, {
        "read_bytes_per_second": "node_disk_read_bytes_total",
        "write_bytes_per_second": "node_disk_written_bytes_total",
        "reads_per_second": "node_disk_reads_completed_total",
        "writes_per_second": "node_disk_writes_completed_total",
        "io_time_ratio": "node_disk_io_time_seconds_total",
    })
    for d in disks:
        ratio = d.pop("io_time_ratio", None)
        d["busy_percent"] = None if ratio is None else round(min(100.0, 100.0 * ratio), 2)
    return disks


def network_view(store: Store, now_ms: int) -> list[dict[str, Any]]:
    return _per_device(store, now_ms, {
        "receive_bytes_per_second": "node_network_receive_bytes_total",
        "transmit_bytes_per_second": "node_network_transmit_bytes_total",
        "receive_packets_per_second": "node_network_receive_packets_total",
        "transmit_packets_per_second": "node_network_transmit_packets_total",
        "receive_errors_per_second": "node_network_receive_errs_total",
        "transmit_errors_per_second": "node_network_transmit_errs_total",
        "receive_drops_per_second": "node_network_receive_drop_total",
        "transmit_drops_per_second": "node_network_transmit_drop_total",
    })


def system_view(store: Store, now_ms: int) -> dict[str, Any]:
    """Everything the System panels show, in one JSON-ready dict."""
    memory, swap = memory_view(store, now_ms)
    boot = _gauge(store, "node_boot_time_seconds", now_ms)
    return {
        "cpu": cpu_view(store, now_ms),
        "memory": memory,
        "swap": swap,
        "load": {k: _gauge(store, f"node_{k}", now_ms) for k in ("load1", "load5", "load15")},
        "filesystems": filesystems_view(store, now_ms),
        "disks": disks_view(store, now_ms),
        "network": network_view(store, now_ms),
        "processes": {
            "pids": _gauge(store, "node_processes_pids", now_ms),
            "threads": _gauge(store, "node_processes_threads", now_ms),
            "running": _gauge(store, "node_procs_running", now_ms),
            "blocked": _gauge(store, "node_procs_blocked", now_ms),
        },
        "context_switches_per_second": _rates(store, "node_context_switches_total", "__name__", now_ms).get(
            "node_context_switches_total"),
        "interrupts_per_second": _rates(store, "node_intr_total", "__name__", now_ms).get("node_intr_total"),
        "uptime_seconds": None if boot is None else round(now_ms / 1000.0 - boot, 3),
    }
