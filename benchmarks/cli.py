"""Benchmark: how long the ``kontor`` commands an analyst types take, start to exit.

Run:  .venv/bin/python benchmarks/cli.py [--repeats 5] [--only help,query,check,run_raw,run,dev] [--project DIR]

Prints one JSON object on stdout (progress goes to stderr). Every measurement is a fresh
``python -m pipelines.cli ...`` process in the project (default: this repository, which must
have been built once with ``kontor demo-data && kontor run``), wall clock from spawn to exit:

- ``help``: ``kontor --help``
- ``query``: ``kontor query "select 1"`` on the serving copy
- ``check``: ``kontor check`` on the project's files, unchanged since the last check (answered from
  ``target/check.json``)
- ``check_cold``: ``kontor check`` with ``target/check.json`` deleted first: every file parsed and judged
- ``python``: a bare ``python -c pass``, the floor every command stands on (for ratios on a busy machine)
- ``run_raw``: ``kontor run --select group:raw`` with nothing new (every extract already loaded)
- ``run``: ``kontor run`` with nothing new: decided from ``target/last_run.json`` without a Dagster
  run (``pipelines/core/uptodate.py``); the first ``kontor run`` after ``kontor run --force``
  would build models, entities, gates, reports and the serving copy again
- ``run_forced``: ``kontor run --force`` with nothing new (not in the default set: a whole run)
- ``dev``: ``kontor dev`` on a free port until the UI answers HTTP (``/server_info``), then SIGTERM;
  ``dev_stop_s`` is how long the process group took to exit after SIGTERM.

The figure per command is the median of ``--repeats``; all values are kept. ``cpu_median_s`` is
the CPU time (user + system) of the command's process tree, which another job's load does not
stretch: on a busy machine compare it, and the wall clock's ratio to ``python``.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import signal
import socket
import statistics
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
TARGETS = {"python": None, "help": 0.3, "query": 0.5, "check": 2.0, "check_cold": 2.0, "run_raw": 5.0, "run": 5.0, "run_forced": None,
           "dev": 20.0}
COMMANDS = {
    "help": ["--help"],
    "query": ["query", "select 1"],
    "check": ["check"],
    "check_cold": ["check"],
    "run_raw": ["run", "--select", "group:raw"],
    "run": ["run"],
    "run_forced": ["run", "--force"],
}


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def env_for(project: Path) -> dict[str, str]:
    # This checkout's code, not whatever copy of Kontor is installed in the environment.
    return dict(os.environ, PYTHONPATH=str(REPO), KONTOR_PROJECT_DIR=str(project))


def cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def time_command(args: list[str], project: Path) -> tuple[float, float]:
    """Wall clock from spawn to exit, and the CPU seconds (user + system) the command used: on a
    machine other jobs load, the wall clock waits for a core, the CPU time does not."""
    command = [sys.executable, "-c", "pass"] if args == ["python"] else [sys.executable, "-m", "pipelines.cli", *args]
    cpu = cpu_seconds()
    start = time.perf_counter()
    done = subprocess.run(command, cwd=project, env=env_for(project),
                          stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    elapsed = time.perf_counter() - start
    if done.returncode != 0:
        raise SystemExit(f"kontor {' '.join(args)} failed ({done.returncode}): {done.stderr.strip()[-500:]}")
    return elapsed, cpu_seconds() - cpu


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def time_dev(project: Path, timeout: float = 180.0) -> tuple[float, float, float]:
    """Seconds until ``kontor dev`` answers HTTP, until it has exited after SIGTERM, and the CPU
    seconds its process tree used from start to exit (start-up, then idle until the SIGTERM)."""
    port = free_port()
    cpu = cpu_seconds()
    start = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "-m", "pipelines.cli", "dev", "--port", str(port)], cwd=project,
                            env=env_for(project), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True)
    answered = None
    try:
        while time.perf_counter() - start < timeout and proc.poll() is None:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/server_info", timeout=2) as response:
                    if response.status == 200:
                        answered = time.perf_counter() - start
                        break
            except OSError:
                time.sleep(0.2)
        if answered is None:
            raise SystemExit(f"kontor dev did not answer on port {port} within {timeout:.0f} s")
    finally:
        stop = time.perf_counter()
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=60)
        finally:
            try:  # whatever is left of the process group must not outlive the benchmark
                os.killpg(proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
    return answered, time.perf_counter() - stop, cpu_seconds() - cpu


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--only", default="python,help,query,check,run_raw,run,dev")
    parser.add_argument("--project", type=Path, default=REPO)
    args = parser.parse_args()
    project = args.project.resolve()
    if not (project / "target" / "serving.duckdb").is_file():
        raise SystemExit(f"{project}/target/serving.duckdb missing; fix: kontor demo-data && kontor run first")
    wanted = [w.strip() for w in args.only.split(",") if w.strip()]
    load_at_start = round(os.getloadavg()[0], 2)
    results: dict[str, dict] = {}
    for name in wanted:
        values, stops, cpus = [], [], []
        for i in range(args.repeats):
            if name == "dev":
                answered, stopped, cpu = time_dev(project)
                values.append(answered)
                stops.append(stopped)
                cpus.append(cpu)
            else:
                if name == "check_cold":
                    (project / "target" / "check.json").unlink(missing_ok=True)
                elapsed, cpu = time_command(COMMANDS.get(name, [name]), project)
                values.append(elapsed)
                cpus.append(cpu)
            log(f"{name} #{i + 1}: {values[-1]:.2f} s" + (f" ({cpus[-1]:.2f} s CPU)" if cpus else ""))
        entry = {"median_s": round(statistics.median(values), 3), "min_s": round(min(values), 3),
                 "all_s": [round(v, 3) for v in values], "target_s": TARGETS[name]}
        if TARGETS[name] is not None:
            entry["met"] = statistics.median(values) <= TARGETS[name]
        if cpus:
            entry["cpu_median_s"] = round(statistics.median(cpus), 3)
        if stops:
            entry["dev_stop_s"] = round(statistics.median(stops), 3)
        results[name] = entry
    print(json.dumps({
        "commands": results,
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(),
                    "load_avg_1m_start": load_at_start, "load_avg_1m_end": round(os.getloadavg()[0], 2)},
    }, indent=1))


if __name__ == "__main__":
    main()
