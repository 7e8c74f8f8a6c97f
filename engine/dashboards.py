"""Grafana dashboard files: the ones shipped in dashboards/ and those of ``DASHBOARDS_DIR``.

Files are read afresh on each call (a user may drop one in at any time), each one bounded in size and
parsed as JSON; a file that cannot be used is listed with its error instead of failing the list.
Blocking file I/O: callers run these functions on a thread.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

BUILTIN_DASHBOARDS = Path(__file__).resolve().parent.parent / "dashboards"
MAX_DASHBOARD_BYTES = 4 * 1024 * 1024
"""Largest file read; Grafana's biggest community node_exporter dashboards are under 1 MiB."""
MAX_DASHBOARD_FILES = 200
"""Most files looked at in one folder, so a folder of thousands cannot stall a request."""
UID_RE = re.compile(r"[A-Za-z0-9_-]{1,40}")
"""Grafana's uid alphabet and length."""


class DashboardError(ValueError):
    """A dashboard file that cannot be served; the message says why in one line."""


def _folders(extra: Path | None) -> list[tuple[str, Path]]:
    folders = [("builtin", BUILTIN_DASHBOARDS)]
    if extra is not None:
        folders.append(("dashboards_dir", extra))
    return folders


def _files(folder: Path) -> list[Path]:
    try:
        names = sorted(p for p in folder.iterdir() if p.suffix == ".json" and p.is_file())  # no FIFO, device
    except OSError:
        return []
    return names[:MAX_DASHBOARD_FILES]


def read_dashboard(path: Path) -> dict[str, Any]:
    """The dashboard in ``path``, with its uid (the file's stem when it has none, as Grafana would
    make one up); DashboardError when it is too big, not JSON, or not a dashboard."""
    try:
        with path.open("rb") as f:
            raw = f.read(MAX_DASHBOARD_BYTES + 1)
    except OSError as exc:
        raise DashboardError(f"cannot read: {exc.strerror or exc}") from None
    if len(raw) > MAX_DASHBOARD_BYTES:
        raise DashboardError(f"larger than {MAX_DASHBOARD_BYTES} bytes")
    try:
        doc = json.loads(raw.decode("utf-8"))
    except UnicodeDecodeError:
        raise DashboardError("not UTF-8") from None
    except (ValueError, RecursionError) as exc:  # JSONDecodeError, an over-long integer, deep nesting
        raise DashboardError(f"not JSON: {str(exc)[:200]}") from None
    if not isinstance(doc, dict):
        raise DashboardError("not a JSON object")
    if "dashboard" in doc and isinstance(doc["dashboard"], dict):  # Grafana's API export wraps it
        doc = doc["dashboard"]
    if not isinstance(doc.get("title"), str) or not doc["title"]:
        raise DashboardError("no title")
    if not isinstance(doc.get("panels", []), list):
        raise DashboardError("panels is not a list")
    uid = doc.get("uid") or path.stem
    if not isinstance(uid, str) or not UID_RE.fullmatch(uid):
        raise DashboardError(f"uid {uid!r} is not 1-40 letters, digits, '-' or '_'")
    return {**doc, "uid": uid}


def list_dashboards(extra: Path | None) -> list[dict[str, Any]]:
    """One entry per file: uid, title, tags, file, source (``builtin`` or ``dashboards_dir``) and
    error (null, or why the file is not served). A DASHBOARDS_DIR file replaces a shipped one of
    the same uid; the one it replaces is listed with that as its error."""
    entries: list[dict[str, Any]] = []
    served: dict[str, dict[str, Any]] = {}
    for source, folder in _folders(extra):
        for path in _files(folder):
            entry: dict[str, Any] = {"uid": None, "title": None, "tags": [], "file": path.name, "source": source,
                                     "error": None}
            try:
                doc = read_dashboard(path)
            except DashboardError as exc:
                entry["error"] = str(exc)
            else:
                tags = doc.get("tags")
                entry.update(uid=doc["uid"], title=doc["title"],
                             tags=[t for t in tags if isinstance(t, str)] if isinstance(tags, list) else [])
                earlier = served.get(doc["uid"])
                if earlier is not None:
                    earlier["error"] = f"uid {doc['uid']} replaced by {source} {path.name}"
                served[doc["uid"]] = entry
            entries.append(entry)
    return entries


def find_dashboard(extra: Path | None, uid: str) -> dict[str, Any] | None:
    """The dashboard served under ``uid`` (DASHBOARDS_DIR's before the shipped one), None if none."""
    if not UID_RE.fullmatch(uid):
        return None
    for _source, folder in reversed(_folders(extra)):
        for path in _files(folder):
            try:
                doc = read_dashboard(path)
            except DashboardError:
                continue
            if doc["uid"] == uid:
                return doc
    return None
