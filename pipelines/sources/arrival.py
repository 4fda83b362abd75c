"""Whether an extract has finished arriving: files still being written are not read.

An exporter writing a large file, or a copy onto the share, is visible long before it ends; read
then, it loads as a complete batch and the rest of it arrives as a second. A file is therefore
loaded only once it is stable: its size and modification time unchanged for ``settle_seconds``
(``[tool.kontor] settle_seconds``, default 30), or, when the table declares ``done_marker:
"{name}.ok"``, once the exporter has written that marker beside it.

A file younger than the settle time is watched for the rest of it: if it does not change it is
loaded (so ``kontor demo-data && kontor run`` waits once, it does not skip); if it changes, it is
being written and waits for the next run. The age counts from the later of mtime and ctime: a
copy that sets the original mtime (``cp -p``, robocopy) still has a fresh ctime.
"""
from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

from pipelines.sources.spec import SourceTable


def marker_for(table: SourceTable, path: Path) -> Path | None:
    if not table.done_marker:
        return None
    return path.with_name(table.done_marker.format(name=path.name, stem=path.stem))


def data_files(table: SourceTable, files: list[Path]) -> list[Path]:
    """The glob's files without the completion markers it may also match."""
    markers = {marker_for(table, p) for p in files} - {None}
    return [p for p in files if p not in markers]


def _signature(path: Path) -> tuple[int, int]:
    st = path.stat()
    return st.st_size, st.st_mtime_ns


def _age(path: Path, now: float) -> float:
    st = path.stat()
    return now - max(st.st_mtime, st.st_ctime)


def waiting_reason(table: SourceTable, path: Path, settle_seconds: float,
                   sleep: Callable[[float], None] = time.sleep) -> str | None:
    """None when the file may be read; else why it waits (for the run's output)."""
    marker = marker_for(table, path)
    if marker is not None:
        return None if marker.exists() else f"waiting for its completion marker {marker.name}"
    if settle_seconds <= 0:
        return None
    before = _signature(path)
    age = _age(path, time.time())
    while age < settle_seconds:
        sleep(min(1.0, settle_seconds / 10, settle_seconds - age))
        now = _signature(path)
        if now != before:
            return (f"still being written ({before[0]:,} -> {now[0]:,} bytes while watched); "
                    f"loads once unchanged for {settle_seconds:g} s")
        age = _age(path, time.time())
    return None
