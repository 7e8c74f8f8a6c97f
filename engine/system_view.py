"""The host at a glance: current values and per-second rates of the node_* series, read with PromQL
(instant selectors for gauges, ``irate`` over the lookback window for counters) like every chart."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from engine.promql import QueryEngine, Sample

IDLE_MODES = ("idle", "iowait")
GAUGES = ('{__name__=~"node_memory_.+_bytes|node_load(1|5|15)|node_filesystem_(size|free|avail)_bytes'
          '|node_boot_time_seconds|node_processes_(pids|threads)|node_procs_(running|blocked)|node_uname_info"}')


class _Reader:
    """The gauges in one query, then one ``irate`` query per counter, all at the same instant."""

    def __init__(self, query: QueryEngine, now_ms: int) -> None:
        self.query = query
        self.t = now_ms / 1000
        self.window = f"{query.lookback_ms}ms"
        self._gauges: dict[str, list[Sample]] = {}
        for sample in query.instant(GAUGES, self.t).value:
            self._gauges.setdefault(sample.labels["__name__"], []).append(sample)

    def gauges(self, name: str) -> list[Sample]:
        return self._gauges.get(name, [])

    def gauge(self, name: str) -> float | None:
        found = self.gauges(name)
        return found[0].value if found else None

    def rates(self, name: str) -> list[Sample]:
        return self.query.instant(f"irate({name}[{self.window}])", self.t).value

    def rates_by(self, name: str, key: str) -> dict[str, float]:
        return {s.labels.get(key, ""): s.value for s in self.rates(name)}

    def rate(self, name: str) -> float | None:
        found = self.rates(name)
        return found[0].value if found else None


def _percent(part: float | None, whole: float | None) -> float | None:
    if part is None or not whole:
        return None
    return round(100.0 * part / whole, 2)


def cpu_view(read: _Reader) -> dict[str, Any]:
    per_core: dict[str, dict[str, float]] = {}
    for s in read.rates("node_cpu_seconds_total"):
        per_core.setdefault(s.labels.get("cpu", ""), {})[s.labels.get("mode", "")] = s.value
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


def memory_view(read: _Reader) -> tuple[dict[str, Any], dict[str, Any]]:
    def g(field: str) -> float | None:
        return read.gauge(f"node_memory_{field}_bytes")

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


def filesystems_view(read: _Reader) -> list[dict[str, Any]]:
    mounts: dict[str, dict[str, Any]] = {}
    for field in ("size", "free", "avail"):
        for s in read.gauges(f"node_filesystem_{field}_bytes"):
            labels = s.labels
            entry = mounts.setdefault(labels.get("mountpoint", ""), {
                "mountpoint": labels.get("mountpoint", ""), "device": labels.get("device", ""),
                "fstype": labels.get("fstype", ""),
            })
            entry[f"{field}_bytes"] = s.value
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


def _per_device(read: _Reader, fields: dict[str, str]) -> list[dict[str, Any]]:
    devices: dict[str, dict[str, Any]] = {}
    for out_field, metric in fields.items():
        for device, r in read.rates_by(metric, "device").items():
            devices.setdefault(device, {"device": device})[out_field] = r
    return [devices[d] for d in sorted(devices)]


def disks_view(read: _Reader) -> list[dict[str, Any]]:
    disks = _per_device(read, {
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


def network_view(read: _Reader) -> list[dict[str, Any]]:
    return _per_device(read, {
        "receive_bytes_per_second": "node_network_receive_bytes_total",
        "transmit_bytes_per_second": "node_network_transmit_bytes_total",
        "receive_packets_per_second": "node_network_receive_packets_total",
        "transmit_packets_per_second": "node_network_transmit_packets_total",
        "receive_errors_per_second": "node_network_receive_errs_total",
        "transmit_errors_per_second": "node_network_transmit_errs_total",
        "receive_drops_per_second": "node_network_receive_drop_total",
        "transmit_drops_per_second": "node_network_transmit_drop_total",
    })


def system_view(query: QueryEngine, now_ms: int) -> dict[str, Any]:
    """Everything the System panels show, in one JSON-ready dict."""
    read = _Reader(query, now_ms)
    memory, swap = memory_view(read)
    boot = read.gauge("node_boot_time_seconds")
    uname = read.gauges("node_uname_info")
    return {
        "hostname": uname[0].labels.get("nodename") if uname else None,
        "cpu": cpu_view(read),
        "memory": memory,
        "swap": swap,
        "load": {k: read.gauge(f"node_{k}") for k in ("load1", "load5", "load15")},
        "filesystems": filesystems_view(read),
        "disks": disks_view(read),
        "network": network_view(read),
        "processes": {
            "pids": read.gauge("node_processes_pids"),
            "threads": read.gauge("node_processes_threads"),
            "running": read.gauge("node_procs_running"),
            "blocked": read.gauge("node_procs_blocked"),
        },
        "context_switches_per_second": read.rate("node_context_switches_total"),
        "interrupts_per_second": read.rate("node_intr_total"),
        "uptime_seconds": None if boot is None else round(now_ms / 1000.0 - boot, 3),
    }
