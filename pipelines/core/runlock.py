"""One writer: a run holds ``target/run.lock`` while it writes, and says what it builds.

``kontor run`` takes it first thing; every Dagster run (the UI's, a schedule's, a sensor's, and
``kontor run``'s own, which joins the lock its process holds) takes it when its warehouse
resource is set up (``assets/resources.py``). DuckDB lets one process write the warehouse; a
second run would fail somewhere inside, asset by asset. Instead it is refused at once, naming the
run that holds the lock: its pid, start time and what it builds. The lock is an ``flock`` on the file, so the operating system releases it when the
holder ends in any way (even ``kill -9``): a lock file left behind never blocks anyone.

And a run that cannot open the warehouse (another process holds DuckDB's lock, the disk is full,
no permission) says so in one line before any asset starts: :func:`warehouse_problem`.
"""
from __future__ import annotations

import datetime as dt
import errno
import fcntl
import json
import os
import re
from pathlib import Path

from pipelines.core.errors import KontorError

LOCK_NAME = "run.lock"
# The locks this process holds, by file: `kontor run` takes the lock, then its Dagster run's
# warehouse resource asks again (as every Dagster run's does, from the UI too) and joins it.
_HELD: dict[Path, "RunLock"] = {}


class RunLock:
    """``with RunLock(target_dir, building="group:raw"):`` (raises ``KontorError`` when another
    process holds it; within the process that holds it, a second ``RunLock`` joins the first)."""

    def __init__(self, target_dir: Path, building: str):
        self.path = (Path(target_dir) / LOCK_NAME).resolve()
        self.building = building
        self._fd: int | None = None
        self._joined = False

    def __enter__(self) -> RunLock:
        if self.path in _HELD:
            self._joined = True
            return self
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            holder = _read(fd)
            os.close(fd)
            if exc.errno not in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
                raise KontorError(f"cannot lock {self.path}: {exc.strerror}") from exc
            raise KontorError(f"another kontor run is writing this warehouse: {describe(holder)}; "
                              f"fix: wait for it to finish, or stop it (kill {holder.get('pid', 'PID')})") from None
        record = {"pid": os.getpid(), "started_at": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
                  "building": self.building}
        os.ftruncate(fd, 0)
        os.pwrite(fd, json.dumps(record).encode(), 0)
        self._fd = fd
        _HELD[self.path] = self
        return self

    def __exit__(self, *exc) -> None:
        if self._joined:
            self._joined = False
            return
        if self._fd is not None:
            _HELD.pop(self.path, None)
            os.ftruncate(self._fd, 0)   # the next run must not read this one's record as a holder
            os.close(self._fd)          # closing releases the flock
            self._fd = None


def _read(fd: int) -> dict:
    try:
        return json.loads(os.pread(fd, 4096, 0).decode() or "{}")
    except (OSError, ValueError):
        return {}


def describe(holder: dict) -> str:
    """``pid 123, started 2026-12-03 11:00:02 UTC, building everything``."""
    started = holder.get("started_at", "")
    try:
        started = dt.datetime.fromisoformat(started).astimezone(dt.timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC")
    except ValueError:
        pass
    return (f"pid {holder.get('pid', '?')}, started {started or 'at an unknown time'}, "
            f"building {holder.get('building') or 'everything'}")


def _command_line(pid: str) -> str:
    try:
        text = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""
    text = " ".join(text.split())   # one line, whatever the arguments hold
    return text if len(text) <= 160 else text[:157] + "..."


def warehouse_problem(path: Path, shown: str, exc: Exception) -> str:
    """One line for an error opening the warehouse: who holds it, or what the system said, and the fix."""
    text = str(exc)
    held = re.search(r"Conflicting lock is held in (.*?) \(PID (\d+)\)", text)
    if held:
        command = _command_line(held.group(2)) or held.group(1)
        return (f"cannot open the warehouse {shown}: it is locked by another process (PID {held.group(2)}: "
                f"{command}); fix: stop that process or wait for it, and point readers at the serving copy")
    lowered = text.lower()
    if "no space left" in lowered or isinstance(exc, OSError) and exc.errno == errno.ENOSPC:
        return f"cannot write the warehouse {shown}: the disk is full; fix: free space on {path.parent}"
    if "permission denied" in lowered or isinstance(exc, PermissionError) or "read-only file system" in lowered:
        return (f"cannot write the warehouse {shown}: permission denied; fix: give this user write access to "
                f"{path.parent} (or set KONTOR_TARGET to a writable directory)")
    first = text.splitlines()[0] if text else type(exc).__name__
    return f"cannot open the warehouse {shown}: {first}"
