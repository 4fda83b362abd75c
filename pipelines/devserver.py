"""``kontor dev``: the Dagster UI as a child that starts, answers and stops with ``kontor``.

``dg dev`` when the ``dg`` command is installed and the project is a ``dg`` project
(``[tool.dg]`` in pyproject.toml); else ``dagster dev`` (which Dagster 1.13 marks as superseded by
``dg dev``, but ``dg dev`` only serves ``dg`` projects). The child runs in its own process group;
``kontor dev`` prints the URL once the UI answers HTTP, hides Dagster's beta/preview/supersession
notices, and on SIGTERM or SIGINT stops it the way Dagster stops cleanly (SIGINT, which
``dagster dev`` turns into an orderly shutdown of webserver, daemon and code servers), then
whatever is left of its processes: nothing outlives ``kontor dev``.
"""
from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path

# "…/x.py:145: BetaWarning: Parameter …" and the source line Python prints under it
_NOTICE = re.compile(r":\d+: (BetaWarning|PreviewWarning|SupersessionWarning): ")
GRACE_SECONDS = 10.0


def dagster_command(project_dir: Path, workspace: Path | None, host: str, port: int) -> list[str]:
    """``dg dev`` for a dg project with dg installed, else ``dagster dev`` on the workspace or module."""
    bindir = Path(sys.executable).parent
    dg = shutil.which("dg", path=f"{bindir}{os.pathsep}{os.environ.get('PATH', '')}")
    pyproject = project_dir / "pyproject.toml"
    if dg and pyproject.is_file() and "[tool.dg" in pyproject.read_text(encoding="utf-8"):
        return [dg, "dev", "--host", host, "--port", str(port)]
    target = ["-w", str(workspace)] if workspace else ["-m", "pipelines.definitions", "-a", "defs"]
    return [str(bindir / "dagster"), "dev", *target, "-h", host, "-p", str(port)]


def descendants(pid: int) -> list[int]:
    """Every process below ``pid`` (Linux /proc; elsewhere none, and the process group covers it)."""
    children: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        children.setdefault(int(fields[1]), []).append(int(stat.parent.name))
    found, todo = [], [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return found


def _filter(stream, out) -> None:
    """Copy the child's output, without Dagster's notes to developers."""
    skip_source = False
    for line in iter(stream.readline, ""):
        if _NOTICE.search(line):
            skip_source = True
            continue
        if skip_source and line.startswith("  "):
            skip_source = False
            continue
        skip_source = False
        out.write(line)
        out.flush()


def wait_until_answering(url: str, proc: subprocess.Popen, timeout: float,
                         stopped: Callable[[], bool] = lambda: False) -> float | None:
    """Seconds until ``url`` answered 200, or None if the child exited, we were stopped or time ran out."""
    start = time.monotonic()
    while time.monotonic() - start < timeout and proc.poll() is None and not stopped():
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if response.status == 200:
                    return time.monotonic() - start
        except OSError:
            time.sleep(0.25)
    return None


def stop(proc: subprocess.Popen, grace: float = GRACE_SECONDS) -> None:
    """SIGINT (Dagster's clean shutdown), then SIGTERM and SIGKILL to what is left, the whole tree."""
    tree = descendants(proc.pid)
    if proc.poll() is None:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=grace)
        except subprocess.TimeoutExpired:
            pass
    for sig in (signal.SIGTERM, signal.SIGKILL):
        alive = [p for p in [proc.pid, *tree] if _alive(p)]
        if not alive:
            return
        for pid in alive:
            try:
                os.kill(pid, sig)
            except ProcessLookupError:
                pass
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline and any(_alive(p) for p in alive):
            if proc.poll() is None:
                try:
                    proc.wait(timeout=0.1)
                except subprocess.TimeoutExpired:
                    pass
            else:
                time.sleep(0.1)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:  # a zombie is dead: it only waits for its parent to read its status
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return True


def serve(args: list[str], env: dict[str, str], url: str, say: Callable[[str], None], timeout: float = 300.0) -> int:
    """Run the UI until SIGTERM/SIGINT or until it exits; returns the exit code for ``kontor dev``."""
    started = time.monotonic()
    proc = subprocess.Popen(args, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            start_new_session=True)
    pump = threading.Thread(target=_filter, args=(proc.stdout, sys.stderr), daemon=True)
    pump.start()
    stopping = threading.Event()

    def on_signal(signum, frame) -> None:
        stopping.set()

    previous = {s: signal.signal(s, on_signal) for s in (signal.SIGTERM, signal.SIGINT)}
    try:
        answered = wait_until_answering(f"{url}/server_info", proc, timeout, stopping.is_set)
        if answered is not None and not stopping.is_set():
            say(f"Dagster UI on {url} (answered after {time.monotonic() - started:.1f} s)")
        elif proc.poll() is None and not stopping.is_set():
            say(f"the Dagster UI did not answer on {url} within {timeout:.0f} s; stopping it")
            stopping.set()
        while not stopping.is_set() and proc.poll() is None:
            stopping.wait(0.5)
        code = proc.poll()
        stop(proc)
        if code is not None and not stopping.is_set():
            say(f"the Dagster UI exited with code {code} (its output is above)")
            return code or 1
        return 0
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)
        pump.join(timeout=5)
