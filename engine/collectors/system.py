"""Host and own-process metrics under node_exporter's and prometheus-client's names.

Names, types, label names and base units match node_exporter so that existing dashboards and
alert rules work unchanged. Counters are raw cumulative values; rates are the query layer's job.
Both collectors are synchronous and blocking: the caller runs collect() in a worker thread.
"""

from __future__ import annotations

import logging
import os
import platform
import re
import sys
from collections.abc import Callable, Iterable, Mapping
from typing import Any

import psutil

from engine.tsdb.types import Family

try:
    import resource
except ImportError:  # Windows
    resource = None

log = logging.getLogger(__name__)

_LINUX = sys.platform.startswith("linux")

# What the OS may throw at a collector: permissions, a vanished mount or device, a missing or
# oddly formatted /proc file. These drop a family (or a sample) for one cycle; anything else is a bug.
_OS_ERRORS: tuple[type[Exception], ...] = (OSError, RuntimeError, ValueError, psutil.Error)

# node_exporter's default filters (collector/filesystem_linux.go, collector/diskstats_linux.go).
_FS_MOUNTPOINTS_EXCLUDE = re.compile(
    r"^/(dev|proc|run/credentials/.+|sys|var/lib/docker/.+|var/lib/containers/storage/.+)($|/)"
)
_FS_TYPES_EXCLUDE = re.compile(
    r"^(autofs|binfmt_misc|bpf|cgroup2?|configfs|debugfs|devpts|devtmpfs|fusectl|hugetlbfs|iso9660|mqueue"
    r"|nsfs|overlay|proc|procfs|pstore|rpc_pipefs|securityfs|selinuxfs|squashfs|sysfs|tracefs)$"
)
_DISK_EXCLUDE = re.compile(r"^(z?ram|loop|fd|(h|s|v|xv)d[a-z]|nvme\d+n\d+p)\d+$")

_CPU_MODES = ("user", "nice", "system", "idle", "iowait", "irq", "softirq", "steal")
# Regexes over the whole /proc file: a fraction of the cost of splitting its ~200 lines each cycle.
_MEMINFO_RE = re.compile(
    r"^(MemTotal|MemAvailable|MemFree|Buffers|Cached|SwapTotal|SwapFree):\s+(\d+) kB$", re.MULTILINE
)
_VMSTAT_RE = re.compile(r"^(pswpin|pswpout) (\d+)$", re.MULTILINE)
_PROCS_RE = re.compile(r"^(procs_running|procs_blocked) (\d+)$", re.MULTILINE)
_PROCS_HELP = {
    "procs_running": "Number of processes in runnable state.",
    "procs_blocked": "Number of processes blocked waiting for I/O to complete.",
}

_FS_FAMILIES = (
    ("node_filesystem_size_bytes", "Filesystem size in bytes."),
    ("node_filesystem_free_bytes", "Filesystem free space in bytes."),
    ("node_filesystem_avail_bytes", "Filesystem space available to non-root users in bytes."),
    ("node_filesystem_files", "Filesystem total file nodes."),
    ("node_filesystem_files_free", "Filesystem total free file nodes."),
    ("node_filesystem_readonly", "Filesystem read-only status."),
)
# (family, psutil field, scale to base unit, help)
_DISK_FIELDS = (
    ("node_disk_reads_completed_total", "read_count", 1.0,
     "The total number of reads completed successfully."),
    ("node_disk_writes_completed_total", "write_count", 1.0,
     "The total number of writes completed successfully."),
    ("node_disk_read_bytes_total", "read_bytes", 1.0,
     "The total number of bytes read successfully."),
    ("node_disk_written_bytes_total", "write_bytes", 1.0,
     "The total number of bytes written successfully."),
    ("node_disk_read_time_seconds_total", "read_time", 1e-3,
     "The total number of seconds spent by all reads."),
    ("node_disk_write_time_seconds_total", "write_time", 1e-3,
     "This is the total number of seconds spent by all writes."),
    ("node_disk_io_time_seconds_total", "busy_time", 1e-3,
     "Total seconds spent doing I/Os."),
)
_NET_FIELDS = tuple(
    (f"node_network_{stat}_total", attr, 1.0, f"Network device statistic {stat}.")
    for stat, attr in (
        ("receive_bytes", "bytes_recv"),
        ("transmit_bytes", "bytes_sent"),
        ("receive_packets", "packets_recv"),
        ("transmit_packets", "packets_sent"),
        ("receive_errs", "errin"),
        ("transmit_errs", "errout"),
        ("receive_drop", "dropin"),
        ("transmit_drop", "dropout"),
    )
)


def _family(name: str, type_: str, help_: str) -> Family:
    """A family whose unit is derived from its name, so the name and the UNIT line cannot disagree."""
    base = name.removesuffix("_total")
    unit = "seconds" if base.endswith("_seconds") else "bytes" if base.endswith("_bytes") else ""
    return Family(name, type_, help_, unit)


def _single(name: str, type_: str, help_: str, value: float) -> Family:
    fam = _family(name, type_, help_)
    fam.add(value)
    return fam


def _per_device(stats: Mapping[str, Any], fields: Iterable[tuple[str, str, float, str]]) -> list[Family]:
    """One counter family per field, one sample per device; a field the OS lacks gives no samples."""
    families = []
    for name, attr, scale, help_ in fields:
        fam = _family(name, "counter", help_)
        for device, counters in stats.items():
            value = getattr(counters, attr, None)
            if value is not None:
                fam.add(value * scale, {"device": device})
        families.append(fam)
    return families


def _memory_families(values: Mapping[str, float]) -> list[Family]:
    return [
        _single(f"node_memory_{field}_bytes", "gauge", f"Memory information field {field}_bytes.", value)
        for field, value in values.items()
    ]


def _read_proc(name: str) -> str:
    """A /proc file under psutil.PROCFS_PATH, so a host /proc mounted into a container is honoured too."""
    with open(os.path.join(psutil.PROCFS_PATH, name), encoding="ascii") as f:
        return f.read()


def _statfs(mountpoint: str) -> tuple[float | None, ...]:
    """Values for _FS_FAMILIES: free counts root's reserved blocks (f_bfree), avail does not (f_bavail).

    psutil.disk_usage() reports f_bavail as "free", which is why statvfs is called directly.
    """
    if not hasattr(os, "statvfs"):  # Windows: psutil's free is the volume's total free bytes
        usage = psutil.disk_usage(mountpoint)
        return (usage.total, usage.free, None, None, None, None)
    st = os.statvfs(mountpoint)
    return (
        st.f_blocks * st.f_frsize,
        st.f_bfree * st.f_frsize,
        st.f_bavail * st.f_frsize,
        st.f_files,
        st.f_ffree,
        1.0 if st.f_flag & os.ST_RDONLY else 0.0,
    )


class SystemCollector:
    """node_exporter-compatible host metrics: cpu, memory, filesystems, disks, network, load, processes.

    Cheap by construction (bench/bench_collector.py measures it): no per-process iteration, only a
    few small /proc reads and one statvfs per real mount. On Linux, figures psutil lacks or defines
    differently from node_exporter are read straight from /proc.
    """

    def __init__(self) -> None:
        common: list[Callable[[], list[Family]]] = [
            self._cpu, self._cpu_stats, self._boot_time, self._load, self._filesystems, self._disks,
            self._network, self._pids, self._uname,
        ]
        if _LINUX:
            common += [self._meminfo, self._vmstat, self._procs, self._threads]
        else:
            common += [self._virtual_memory, self._swap_memory]
        self._sections = tuple(common)
        self.instance: str | None = None
        """An ``instance`` label for every sample (each replica's host:port, so several replicas' host
        metrics stay apart in a shared store or remote storage); None alone, as node_exporter's
        series have none before a scrape adds it."""

    def collect(self) -> list[Family]:
        """All families for one cycle; a section the OS refuses is left out, never raised."""
        families: list[Family] = []
        for section in self._sections:
            try:
                families.extend(fam for fam in section() if fam.samples)
            except _OS_ERRORS as exc:
                log.debug("system collector: %s skipped this cycle: %r", section.__name__, exc)
        if self.instance is not None:
            for fam in families:
                fam.samples = [(name, {**labels, "instance": self.instance}, value)
                               for name, labels, value in fam.samples]
        return families

    @staticmethod
    def _cpu() -> list[Family]:
        # psutil numbers CPUs by position in /proc/stat; with CPUs offline that differs from the kernel's id.
        fam = _family("node_cpu_seconds_total", "counter", "Seconds the CPUs spent in each mode.")
        for cpu, times in enumerate(psutil.cpu_times(percpu=True)):
            for mode in _CPU_MODES:
                value = getattr(times, mode, None)
                if value is not None:
                    fam.add(value, {"cpu": str(cpu), "mode": mode})
        return [fam]

    @staticmethod
    def _cpu_stats() -> list[Family]:
        stats = psutil.cpu_stats()
        return [
            _single("node_context_switches_total", "counter", "Total number of context switches.",
                    stats.ctx_switches),
            _single("node_intr_total", "counter", "Total number of interrupts serviced.", stats.interrupts),
        ]

    @staticmethod
    def _boot_time() -> list[Family]:
        boot = psutil.boot_time()
        return [_single("node_boot_time_seconds", "gauge", "Node boot time, in unixtime.", boot)]

    @staticmethod
    def _uname() -> list[Family]:
        """node_exporter's uname collector: the host name shown in the console's top bar."""
        u = platform.uname()
        fam = _family("node_uname_info", "gauge", "Labeled system information as provided by the uname system call.")
        fam.add(1.0, {"machine": u.machine, "nodename": u.node, "release": u.release, "sysname": u.system,
                      "version": u.version})
        return [fam]

    @staticmethod
    def _load() -> list[Family]:
        # os.getloadavg rather than psutil's: on Windows psutil emulates it with a background thread.
        if not hasattr(os, "getloadavg"):
            return []
        loads = os.getloadavg()
        return [
            _single(f"node_load{period}", "gauge", f"{period}m load average.", value)
            for period, value in zip((1, 5, 15), loads, strict=True)
        ]

    @staticmethod
    def _filesystems() -> list[Family]:
        # A later mount over the same path hides the earlier one and is what statvfs sees: keep the last.
        mounts = {}
        for part in psutil.disk_partitions(all=False):
            if not (_FS_MOUNTPOINTS_EXCLUDE.match(part.mountpoint) or _FS_TYPES_EXCLUDE.match(part.fstype)):
                mounts[part.mountpoint] = part
        families = [_family(name, "gauge", help_) for name, help_ in _FS_FAMILIES]
        for mountpoint, part in mounts.items():
            try:
                values = _statfs(mountpoint)
            except _OS_ERRORS as exc:
                log.debug("system collector: statfs %s failed: %r", mountpoint, exc)
                continue
            labels = {"device": part.device, "fstype": part.fstype, "mountpoint": mountpoint}
            for fam, value in zip(families, values, strict=True):
                if value is not None:
                    fam.add(value, labels)
        return families

    @staticmethod
    def _disks() -> list[Family]:
        # nowrap=False: raw kernel counters like node_exporter's; resets are the query layer's concern.
        stats = psutil.disk_io_counters(perdisk=True, nowrap=False) or {}
        kept = {dev: counters for dev, counters in stats.items() if not _DISK_EXCLUDE.match(dev)}
        return _per_device(kept, _DISK_FIELDS)

    @staticmethod
    def _network() -> list[Family]:
        return _per_device(psutil.net_io_counters(pernic=True, nowrap=False), _NET_FIELDS)

    @staticmethod
    def _pids() -> list[Family]:
        return [_single("node_processes_pids", "gauge", "Number of PIDs", len(psutil.pids()))]

    @staticmethod
    def _meminfo() -> list[Family]:
        """Linux reads /proc/meminfo itself: psutil's `cached` adds SReclaimable, node_exporter's doesn't."""
        values = {key: int(kb) * 1024 for key, kb in _MEMINFO_RE.findall(_read_proc("meminfo"))}
        return _memory_families(values)

    @staticmethod
    def _virtual_memory() -> list[Family]:
        vm = psutil.virtual_memory()
        values = {"MemTotal": vm.total, "MemAvailable": vm.available, "MemFree": vm.free}
        for field, attr in (("Buffers", "buffers"), ("Cached", "cached")):  # BSDs only
            if hasattr(vm, attr):
                values[field] = getattr(vm, attr)
        return _memory_families(values)

    @staticmethod
    def _swap_memory() -> list[Family]:
        swap = psutil.swap_memory()
        return _memory_families({"SwapTotal": swap.total, "SwapFree": swap.free})

    @staticmethod
    def _vmstat() -> list[Family]:
        # Pages, untyped, as node_exporter exports them; psutil's sin/sout assume 4 KiB pages.
        return [
            _single(f"node_vmstat_{key}", "untyped", f"/proc/vmstat information field {key}.", int(value))
            for key, value in _VMSTAT_RE.findall(_read_proc("vmstat"))
        ]

    @staticmethod
    def _procs() -> list[Family]:
        return [
            _single(f"node_{key}", "gauge", _PROCS_HELP[key], int(value))
            for key, value in _PROCS_RE.findall(_read_proc("stat"))
        ]

    @staticmethod
    def _threads() -> list[Family]:
        # /proc/loadavg's 4th field is "runnable/total" scheduling entities: every thread, for one read.
        total = _read_proc("loadavg").split()[3].partition("/")[2]
        return [_single("node_processes_threads", "gauge", "Allocated threads in system", int(total))]


class ProcessCollector:
    """This service's own process_* families, named and described as prometheus-client exports them."""

    def __init__(self) -> None:
        self._process = psutil.Process()

    def collect(self) -> list[Family]:
        """The six standard process families; any the OS cannot give are left out, never raised."""
        families: list[Family] = []
        proc = self._process
        with proc.oneshot():  # one read of /proc/self/stat for cpu, memory and start time
            for section in (self._cpu, self._memory, self._start_time, self._fds):
                try:
                    families.extend(section(proc))
                except _OS_ERRORS as exc:
                    log.debug("process collector: %s skipped this cycle: %r", section.__name__, exc)
        return families

    @staticmethod
    def _cpu(proc: psutil.Process) -> list[Family]:
        times = proc.cpu_times()
        return [_single("process_cpu_seconds_total", "counter",
                        "Total user and system CPU time spent in seconds.", times.user + times.system)]

    @staticmethod
    def _memory(proc: psutil.Process) -> list[Family]:
        mem = proc.memory_info()
        return [
            _single("process_virtual_memory_bytes", "gauge", "Virtual memory size in bytes.", mem.vms),
            _single("process_resident_memory_bytes", "gauge", "Resident memory size in bytes.", mem.rss),
        ]

    @staticmethod
    def _start_time(proc: psutil.Process) -> list[Family]:
        return [_single("process_start_time_seconds", "gauge",
                        "Start time of the process since unix epoch in seconds.", proc.create_time())]

    @staticmethod
    def _fds(proc: psutil.Process) -> list[Family]:
        if not hasattr(proc, "num_fds"):  # Windows has handles, not fds
            return []
        families = [_single("process_open_fds", "gauge", "Number of open file descriptors.", proc.num_fds())]
        if resource is not None:
            soft, _hard = resource.getrlimit(resource.RLIMIT_NOFILE)
            if soft != resource.RLIM_INFINITY:
                families.append(_single("process_max_fds", "gauge",
                                        "Maximum number of open file descriptors.", soft))
        return families
