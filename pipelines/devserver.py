"""``kontor dev``: the Dagster UI as children that start, answer and stop with ``kontor``.

``dg dev`` when the ``dg`` command is installed and the project is a ``dg`` project
(``[tool.dg]`` in pyproject.toml). Otherwise, for Kontor's code location (no workspace.yaml, or
one of ``python_module`` entries like the shipped one), what ``dagster dev`` would start, started
directly with Dagster's public commands: ``dagster code-server start`` per location (a code
server the UI's "Reload" reloads), then, once it answers, ``dagster-webserver`` on a workspace
of ``grpc_server`` entries, and once the UI answers, ``dagster-daemon run``. That spares the
``dagster dev`` process itself (a fifth Python importing Dagster, before anything else can start)
and keeps the daemon off the CPU while the UI starts. Any other workspace.yaml: ``dagster dev``
(which Dagster 1.13 marks as superseded by ``dg dev``, but ``dg dev`` only serves ``dg`` projects).

The children share one process group of their own; ``kontor dev`` prints the URL once the UI
answers HTTP, hides Dagster's beta/preview/supersession notices, and on SIGTERM or SIGINT stops
them the way Dagster stops cleanly (SIGINT: an orderly shutdown of webserver, daemon and code
servers), then whatever is left of their processes: nothing outlives ``kontor dev``.
"""
from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
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


@dataclass(frozen=True)
class CodeServer:
    """One ``python_module`` entry of a workspace, served by ``dagster code-server start``."""

    module_name: str
    attribute: str | None = None
    location_name: str | None = None
    working_directory: str | None = None

    @property
    def name(self) -> str:
        """The location's name as Dagster gives it (``module:attribute`` when none is written)."""
        return self.location_name or (f"{self.module_name}:{self.attribute}" if self.attribute else self.module_name)


def code_servers(workspace: Path | None) -> list[CodeServer] | None:
    """The code locations to serve directly: Kontor's without a workspace.yaml, else the
    workspace's ``python_module`` entries; None when it holds anything else (``dagster dev`` then)."""
    if workspace is None:
        return [CodeServer("pipelines.definitions", "defs")]
    import yaml

    try:
        entries = (yaml.safe_load(workspace.read_text(encoding="utf-8")) or {}).get("load_from")
    except (OSError, yaml.YAMLError, AttributeError):
        return None           # dagster dev says what is wrong with it, in its own words
    servers = []
    for entry in entries if isinstance(entries, list) else [None]:
        value = entry.get("python_module") if isinstance(entry, dict) and len(entry) == 1 else None
        if isinstance(value, str):
            servers.append(CodeServer(value))
        elif isinstance(value, dict) and isinstance(value.get("module_name"), str) and \
                set(value) <= {"module_name", "attribute", "location_name", "working_directory"}:
            servers.append(CodeServer(**value))
        else:
            return None
    return servers or None


def _free_port(host: str) -> int:
    with socket.socket() as s:
        s.bind((host, 0))
        return s.getsockname()[1]


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
    stop_all([proc], grace)


def stop_all(procs: list[subprocess.Popen], grace: float = GRACE_SECONDS) -> None:
    """``stop`` for several children at once: each gets SIGINT, then what is left of all their
    trees SIGTERM and SIGKILL."""
    tree = [pid for proc in procs for pid in [proc.pid, *descendants(proc.pid)]]
    for proc in procs:
        if proc.poll() is None:
            proc.send_signal(signal.SIGINT)
    deadline = time.monotonic() + grace
    for proc in procs:
        try:
            proc.wait(timeout=max(0.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            pass
    for sig in (signal.SIGTERM, signal.SIGKILL):
        alive = [p for p in tree if _alive(p)]
        if not alive:
            return
        for pid in alive:
            try:
                os.kill(pid, sig)
            except ProcessLookupError:
                pass
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline and any(_alive(p) for p in alive):
            for proc in procs:
                proc.poll()           # reaps a child that has exited, so it does not linger as a zombie
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


def _port_open(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=1):
            return True
    except OSError:
        return False


class _Children:
    """The processes of ``serve_direct`` in one process group of their own, their output filtered."""

    def __init__(self, env: dict[str, str]):
        self.env, self.procs, self.pumps = env, [], []

    def start(self, args: list[str]) -> subprocess.Popen:
        # One group of their own (not a session: a group must be joined from the same session),
        # so the terminal's Ctrl-C reaches kontor dev alone, and kontor dev stops them in order.
        group = {"process_group": self.procs[0].pid if self.procs else 0}
        proc = subprocess.Popen(args, env=self.env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, **group)
        pump = threading.Thread(target=_filter, args=(proc.stdout, sys.stderr), daemon=True)
        pump.start()
        self.procs.append(proc)
        self.pumps.append(pump)
        return proc

    def exited(self) -> subprocess.Popen | None:
        return next((p for p in self.procs if p.poll() is not None), None)


def serve_direct(servers: list[CodeServer], host: str, port: int, env: dict[str, str], url: str,
                 say: Callable[[str], None], timeout: float = 300.0) -> int:
    """Code servers, then the webserver once they answer, then the daemon once the UI answers;
    until SIGTERM/SIGINT or until one of them exits. Returns the exit code for ``kontor dev``."""
    bindir = Path(sys.executable).parent
    started = time.monotonic()
    stopping = threading.Event()
    previous = {sig: signal.signal(sig, lambda signum, frame: stopping.set()) for sig in (signal.SIGTERM, signal.SIGINT)}
    children = _Children(env)
    ports = [_free_port("127.0.0.1") for _ in servers]
    gone = None

    def wait(ready: Callable[[], bool]) -> bool:
        while time.monotonic() - started < timeout and not stopping.is_set() and children.exited() is None:
            if ready():
                return True
            stopping.wait(0.25)
        return False

    with tempfile.TemporaryDirectory(prefix="kontor-dev-") as folder:
        try:
            workspace = Path(folder) / "workspace.yaml"
            workspace.write_text("load_from:\n" + "".join(
                f"  - grpc_server: {{host: 127.0.0.1, port: {p}, location_name: {s.name!r}}}\n"
                for s, p in zip(servers, ports)), encoding="utf-8")
            for server, server_port in zip(servers, ports):
                children.start([str(bindir / "dagster"), "code-server", "start", "-m", server.module_name,
                                *(["-a", server.attribute] if server.attribute else []),
                                *(["-d", server.working_directory] if server.working_directory else []),
                                "--location-name", server.name, "-h", "127.0.0.1", "-p", str(server_port)])
            answered = wait(lambda: all(_port_open("127.0.0.1", p) for p in ports))
            if answered:
                webserver = children.start([str(bindir / "dagster-webserver"), "-w", str(workspace), "-h", host, "-p", str(port)])
                answered = wait_until_answering(f"{url}/server_info", webserver, timeout - (time.monotonic() - started),
                                                lambda: stopping.is_set() or children.exited() is not None) is not None
            if answered and not stopping.is_set():
                children.start([str(bindir / "dagster-daemon"), "run", "-w", str(workspace)])
                say(f"Dagster UI on {url} (answered after {time.monotonic() - started:.1f} s)")
            elif children.exited() is None and not stopping.is_set():
                say(f"the Dagster UI did not answer on {url} within {timeout:.0f} s; stopping it")
                stopping.set()
            while not stopping.is_set() and children.exited() is None:
                stopping.wait(0.5)
            gone = children.exited()
        finally:
            stop_all(children.procs)
            for sig, handler in previous.items():
                signal.signal(sig, handler)
            for pump in children.pumps:
                pump.join(timeout=5)
    if gone is not None and not stopping.is_set():
        say(f"the Dagster UI exited with code {gone.returncode} (its output is above)")
        return gone.returncode or 1
    return 0
