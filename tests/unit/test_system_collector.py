"""SystemCollector and ProcessCollector against the real psutil of this machine (no mocks)."""

from __future__ import annotations

import math
import os
import platform
import sys
import time

import psutil
import pytest

from engine.collectors import system
from engine.collectors.system import ProcessCollector, SystemCollector
from engine.tsdb.types import METRIC_TYPES, Family

LINUX = sys.platform.startswith("linux")
DEVICE = frozenset({"device"})
FS = frozenset({"device", "fstype", "mountpoint"})
NONE: frozenset[str] = frozenset()

# Every family the system collector may produce: node_exporter's type and label names.
EXPECTED: dict[str, tuple[str, frozenset[str]]] = {
    "node_cpu_seconds_total": ("counter", frozenset({"cpu", "mode"})),
    **{f"node_memory_{f}_bytes": ("gauge", NONE)
       for f in ("MemTotal", "MemAvailable", "MemFree", "Buffers", "Cached", "SwapTotal", "SwapFree")},
    "node_vmstat_pswpin": ("untyped", NONE),
    "node_vmstat_pswpout": ("untyped", NONE),
    **{f"node_filesystem_{f}": ("gauge", FS)
       for f in ("size_bytes", "free_bytes", "avail_bytes", "files", "files_free", "readonly")},
    **{f"node_disk_{f}_total": ("counter", DEVICE)
       for f in ("reads_completed", "writes_completed", "read_bytes", "written_bytes",
                 "read_time_seconds", "write_time_seconds", "io_time_seconds")},
    **{f"node_network_{d}_{s}_total": ("counter", DEVICE)
       for d in ("receive", "transmit") for s in ("bytes", "packets", "errs", "drop")},
    "node_load1": ("gauge", NONE),
    "node_load5": ("gauge", NONE),
    "node_load15": ("gauge", NONE),
    "node_boot_time_seconds": ("gauge", NONE),
    "node_context_switches_total": ("counter", NONE),
    "node_intr_total": ("counter", NONE),
    "node_procs_running": ("gauge", NONE),
    "node_procs_blocked": ("gauge", NONE),
    "node_processes_pids": ("gauge", NONE),
    "node_processes_threads": ("gauge", NONE),
    "node_uname_info": ("gauge", frozenset({"machine", "nodename", "release", "sysname", "version"})),
}
# Present on any Linux host, whatever its disks and mounts (a container's overlay root is excluded).
REQUIRED_LINUX = {
    "node_cpu_seconds_total", "node_memory_MemTotal_bytes", "node_memory_MemAvailable_bytes",
    "node_memory_MemFree_bytes", "node_memory_Buffers_bytes", "node_memory_Cached_bytes",
    "node_memory_SwapTotal_bytes", "node_memory_SwapFree_bytes", "node_vmstat_pswpin", "node_vmstat_pswpout",
    "node_network_receive_bytes_total", "node_network_transmit_drop_total", "node_load1", "node_load5",
    "node_load15", "node_boot_time_seconds", "node_context_switches_total", "node_intr_total",
    "node_procs_running", "node_procs_blocked", "node_processes_pids", "node_processes_threads",
}
PROCESS_EXPECTED = {
    "process_cpu_seconds_total": "counter",
    "process_resident_memory_bytes": "gauge",
    "process_virtual_memory_bytes": "gauge",
    "process_start_time_seconds": "gauge",
    "process_open_fds": "gauge",
    "process_max_fds": "gauge",
}

linux_only = pytest.mark.skipif(not LINUX, reason="node_exporter's Linux families")


def by_name(families: list[Family]) -> dict[str, Family]:
    return {fam.name: fam for fam in families}


def single(families: dict[str, Family], name: str) -> float:
    (sample,) = families[name].samples
    return sample[2]


def series(families: list[Family]) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    return {(name, frozenset(labels.items())): value
            for fam in families for name, labels, value in fam.samples}


def expected_unit(name: str) -> str:
    base = name.removesuffix("_total")
    return next((u for u in ("seconds", "bytes") if base.endswith("_" + u)), "")


@pytest.fixture(scope="module")
def families() -> list[Family]:
    return SystemCollector().collect()


def test_every_family_has_node_exporter_type_labels_unit_and_help(families: list[Family]) -> None:
    assert families
    for fam in families:
        assert fam.name in EXPECTED, f"unexpected family {fam.name}"
        type_, label_names = EXPECTED[fam.name]
        assert fam.type == type_ and fam.type in METRIC_TYPES, fam.name
        assert fam.help.strip(), fam.name
        assert fam.unit == expected_unit(fam.name), fam.name
        assert fam.samples, fam.name
        for sample_name, labels, _ in fam.samples:
            assert sample_name == fam.name
            assert set(labels) == label_names, (fam.name, labels)
            assert all(isinstance(v, str) and v for v in labels.values()), (fam.name, labels)


@linux_only
def test_linux_families_are_all_present(families: list[Family]) -> None:
    assert REQUIRED_LINUX <= set(by_name(families))


def test_no_duplicate_family_or_series(families: list[Family]) -> None:
    names = [fam.name for fam in families]
    assert len(names) == len(set(names))
    samples = [(name, frozenset(labels.items())) for fam in families for name, labels, _ in fam.samples]
    assert len(samples) == len(set(samples))


def test_values_are_finite_and_non_negative(families: list[Family]) -> None:
    for fam in families:
        for _, labels, value in fam.samples:
            assert math.isfinite(value) and value >= 0, (fam.name, labels, value)


def test_cpu_labels_cover_every_core_and_mode(families: list[Family]) -> None:
    fam = by_name(families)["node_cpu_seconds_total"]
    cpus = {labels["cpu"] for _, labels, _ in fam.samples}
    assert cpus == {str(i) for i in range(psutil.cpu_count())}
    modes = {labels["mode"] for _, labels, _ in fam.samples}
    assert {"user", "system", "idle"} <= modes <= set(system._CPU_MODES)
    if LINUX:
        assert modes == set(system._CPU_MODES)
    assert len(fam.samples) == len(cpus) * len(modes)


def test_memory_is_sane(families: list[Family]) -> None:
    fams = by_name(families)
    total = single(fams, "node_memory_MemTotal_bytes")
    assert total > single(fams, "node_memory_MemAvailable_bytes") > 0
    assert total > single(fams, "node_memory_MemFree_bytes") > 0
    assert total == psutil.virtual_memory().total
    assert single(fams, "node_memory_SwapTotal_bytes") >= single(fams, "node_memory_SwapFree_bytes")


def test_filesystems_are_sane_and_free_is_not_avail(families: list[Family]) -> None:
    fams = by_name(families)
    if "node_filesystem_size_bytes" not in fams:
        pytest.skip("no real filesystem mounted here (e.g. an overlay root)")
    by_fs = {name: {frozenset(labels.items()): v for _, labels, v in fams[name].samples}
             for name in ("node_filesystem_size_bytes", "node_filesystem_free_bytes",
                          "node_filesystem_avail_bytes", "node_filesystem_files",
                          "node_filesystem_files_free", "node_filesystem_readonly")}
    mountpoints = set()
    for key, size in by_fs["node_filesystem_size_bytes"].items():
        free, avail = by_fs["node_filesystem_free_bytes"][key], by_fs["node_filesystem_avail_bytes"][key]
        assert size >= free >= avail >= 0
        assert by_fs["node_filesystem_files"][key] >= by_fs["node_filesystem_files_free"][key] >= 0
        assert by_fs["node_filesystem_readonly"][key] in (0.0, 1.0)
        labels = dict(key)
        assert not system._FS_TYPES_EXCLUDE.match(labels["fstype"])
        assert not system._FS_MOUNTPOINTS_EXCLUDE.match(labels["mountpoint"])
        assert labels["mountpoint"] not in mountpoints
        mountpoints.add(labels["mountpoint"])
        # psutil's "free" is what an unprivileged user may use: node_exporter's avail, not its free,
        # which includes root's reserve (f_bfree). Tolerance: other writers between the two reads.
        usage = psutil.disk_usage(labels["mountpoint"])
        assert usage.total == size
        assert abs(usage.free - avail) <= 0.01 * size
        if hasattr(os, "statvfs"):
            st = os.statvfs(labels["mountpoint"])
            assert abs(st.f_bfree * st.f_frsize - free) <= 0.01 * size


def test_disks_follow_node_exporters_default_device_filter(families: list[Family]) -> None:
    fams = by_name(families)
    if "node_disk_reads_completed_total" not in fams:
        pytest.skip("no block device outside node_exporter's default exclusions here")
    devices = {labels["device"] for _, labels, _ in fams["node_disk_reads_completed_total"].samples}
    assert not any(system._DISK_EXCLUDE.match(d) for d in devices)
    assert devices <= set(psutil.disk_io_counters(perdisk=True))


def test_load_boot_and_process_counts_are_sane(families: list[Family]) -> None:
    fams = by_name(families)
    for name in ("node_load1", "node_load5", "node_load15"):
        if name in fams:
            assert single(fams, name) >= 0
    assert 0 < single(fams, "node_boot_time_seconds") < time.time()
    assert single(fams, "node_processes_pids") >= 1
    assert fams["node_uname_info"].samples[0][1]["nodename"] == platform.node()
    if LINUX:
        assert single(fams, "node_procs_running") >= 1  # this test is running
        assert single(fams, "node_processes_threads") >= single(fams, "node_processes_pids")


def test_counters_never_decrease() -> None:
    collector = SystemCollector()
    first = collector.collect()
    time.sleep(0.05)
    second = series(collector.collect())
    checked = 0
    for fam in first:
        if fam.type not in ("counter", "untyped"):
            continue
        for name, labels, value in fam.samples:
            later = second.get((name, frozenset(labels.items())))
            if later is not None:
                assert later >= value, (name, labels, value, later)
                checked += 1
    assert checked > 0


@linux_only
def test_portable_psutil_path_gives_the_same_memory_families(monkeypatch: pytest.MonkeyPatch) -> None:
    """The non-Linux branch, exercised here with real psutil, drops only the /proc-only families."""
    monkeypatch.setattr(system, "_LINUX", False)
    fams = by_name(SystemCollector().collect())
    for name in ("node_vmstat_pswpin", "node_procs_running", "node_processes_threads"):
        assert name not in fams
    assert single(fams, "node_memory_MemTotal_bytes") == psutil.virtual_memory().total
    assert {"node_memory_SwapTotal_bytes", "node_memory_Cached_bytes", "node_cpu_seconds_total"} <= set(fams)


@linux_only
def test_unreadable_proc_drops_families_instead_of_raising(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(psutil, "PROCFS_PATH", "/nonexistent-procfs")
    fams = by_name(SystemCollector().collect())
    assert "node_memory_MemTotal_bytes" not in fams
    assert "node_cpu_seconds_total" not in fams
    assert "node_load1" in fams  # getloadavg(3) needs no /proc files


def test_process_collector_matches_prometheus_client() -> None:
    collector = ProcessCollector()
    fams = by_name(collector.collect())
    expected = PROCESS_EXPECTED if sys.platform != "win32" else {
        k: v for k, v in PROCESS_EXPECTED.items() if not k.endswith("_fds")}
    assert {name: fam.type for name, fam in fams.items()} == expected
    for fam in fams.values():
        assert fam.help.strip() and fam.unit == expected_unit(fam.name)
        (sample,) = fam.samples
        assert sample[1] == {} and math.isfinite(sample[2]) and sample[2] >= 0
    assert single(fams, "process_virtual_memory_bytes") >= single(fams, "process_resident_memory_bytes") > 0
    assert psutil.boot_time() <= single(fams, "process_start_time_seconds") <= time.time()
    assert single(fams, "process_max_fds") >= single(fams, "process_open_fds") >= 1
    cpu = single(fams, "process_cpu_seconds_total")
    sum(i * i for i in range(200_000))  # burn a little CPU
    assert single(by_name(collector.collect()), "process_cpu_seconds_total") >= cpu > 0
