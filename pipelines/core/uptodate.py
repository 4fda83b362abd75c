"""Whether ``kontor run`` has anything to do, decided before Dagster or DuckDB is imported.

A complete ``kontor run`` that succeeded (no ``--select``, ``--full-refresh`` or ``--retrain``, no
extract left waiting to settle, no source read from a database) writes ``target/last_run.json``:
the fingerprint of everything the run read, taken as it started, and the state of the warehouse
and serving copy it left behind. The next ``kontor run`` takes the same fingerprint; when every
part is equal, a run could only rebuild what is there, so it says per source "skipped (already
loaded)" and ends, with no Dagster run (``--force`` runs anyway). The fingerprint reads no file,
only sizes and modification times:

- every file under the data directory (the extracts);
- the project files a run reads (``PROJECT_READS``: ``pyproject.toml``, the sources file,
  ``models/`` with its entities and macros, ``macros/``, ``seeds/``, ``expectations/``,
  ``reports/``); editing the project's tests, docs or README changes nothing a run builds. A dbt
  project's paths are its ``dbt_project.yml``'s to say (tests among them): there every file of
  the project counts, outside the target, data and state directories and hidden ones;
- Kontor's own code and the versions of the libraries that compute;
- the steward decisions and spot-check verdicts in the state store (how many, the last id);
- the environment variables Kontor reads (``KONTOR_*``, ``OPENAI_*``, ``DAGSTER_HOME``), hashed;
- the day (UTC): the first run of a day always runs, whatever depends on the clock;
- the warehouse and serving copy as the run left them: any other writer (a run from the UI, a
  steward's re-resolve, a run of a selection) makes the next ``kontor run`` a full one.
"""
from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import sqlite3
from pathlib import Path

from pipelines.core.settings import Settings

# the state tables whose rows decide a run (written out: this module imports no sqlglot)
_COUNTS = {"steward_decisions": "select count(*), coalesce(max(rowid), 0) from steward_decisions",
           "spot_checks": "select count(*), coalesce(max(rowid), 0) from spot_checks"}

RECORD = "last_run.json"
# the libraries whose results a run keeps; another version may compute differently
LIBRARIES = ("dagster", "duckdb", "sqlglot", "splink", "great_expectations", "jinja2", "weasyprint")
ENV_PREFIXES = ("KONTOR_", "OPENAI_")
ENV_IGNORED = {"KONTOR_DEBUG", "KONTOR_PROJECT_DIR"}
SKIP_DIRS = {"__pycache__", "node_modules"}
# What a run (and `kontor check`) reads of a Kontor project besides the sources file: files, then
# folders (pipelines/models/project.py, entities/spec.py, quality/spec.py, reports/spec.py).
PROJECT_READS = ("pyproject.toml", "models/", "macros/", "seeds/", "expectations/", "reports/")


def _tree(root: Path, skip: set[Path]) -> str:
    """sha256 over (path, size, mtime) of every file under ``root``; ``skip``: directories left out."""
    digest = hashlib.sha256()
    if not root.is_dir():
        return "absent"
    for folder, dirs, files in os.walk(root):
        here = Path(folder)
        dirs[:] = sorted(d for d in dirs if not d.startswith(".") and d not in SKIP_DIRS and here / d not in skip)
        for name in sorted(files):
            try:
                st = os.stat(here / name)
            except OSError:
                continue      # removed while we looked: the next run sees it gone
            digest.update(f"{(here / name).relative_to(root)}\0{st.st_size}\0{st.st_mtime_ns}\n".encode())
    return digest.hexdigest()


def _stat(path: Path) -> str:
    try:
        st = path.stat()
    except OSError:
        return "absent"
    return f"{st.st_size}:{st.st_mtime_ns}"


def _versions() -> dict[str, str]:
    """The installed versions of ``LIBRARIES``, from the names of their dist-info directories on
    sys.path (importlib.metadata would scan every distribution: 0.1 s)."""
    import re
    import sys

    wanted = re.compile(rf"^({'|'.join(LIBRARIES)})-([^-]+)\.dist-info$", re.IGNORECASE)
    found = {name: "absent" for name in LIBRARIES}
    for folder in sys.path:
        try:
            names = os.listdir(folder or ".")
        except OSError:
            continue
        for entry in names:
            match = wanted.match(entry)
            if match and found[match.group(1).lower()] == "absent":
                found[match.group(1).lower()] = match.group(2)
    return found


def _state(settings: Settings) -> str:
    """How many steward decisions and spot-check rows the state store holds, and the last id."""
    if settings.env.get("KONTOR_STATE_URL"):
        from pipelines.core.state import StateStore   # PostgreSQL: through the store itself

        try:
            with StateStore.from_settings(settings) as store:
                decisions, checks = store.decisions(), store.spot_checks()
        except Exception as exc:  # noqa: BLE001  unreadable now: the run decides, and says why
            return f"unreadable: {type(exc).__name__}"   # never the message: it may carry the URL
        return (f"{len(decisions)}/{max((d['decision_id'] for d in decisions), default=0)}:"
                f"{len(checks)}/{max((c['check_id'] for c in checks), default=0)}")
    value = settings.env.get("KONTOR_STATE_DIR") or "state"
    folder = Path(value) if Path(value).is_absolute() else settings.project_dir / value
    path = folder / "kontor_state.sqlite"
    counts = []
    try:
        con = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True) if path.is_file() else None
        for table, count in _COUNTS.items():
            # no store or no table yet: nothing decided, as after a run that created them empty
            exists = con is not None and con.execute(
                "select count(*) from sqlite_master where type = 'table' and name = ?", [table]).fetchone()[0]
            row = con.execute(count).fetchone() if exists else (0, 0)
            counts.append(f"{row[0]}/{row[1]}")
        if con is not None:
            con.close()
    except sqlite3.Error as exc:
        return f"unreadable: {exc}"
    return ":".join(counts)


def _project_files(settings: Settings) -> str:
    """The project's files a run reads (``PROJECT_READS``), or a dbt project's every file."""
    root = settings.project_dir
    if settings.dbt is not None:
        state_dir = root / (settings.env.get("KONTOR_STATE_DIR") or "state")
        return _tree(root, {settings.target_dir, settings.data_dir, state_dir.resolve()})
    skip = {settings.target_dir, settings.data_dir}     # inside models/, say: fingerprinted on their own
    parts = [f"sources\0{settings.sources_file}\0{_stat(settings.sources_file)}"]
    for name in PROJECT_READS:
        path = root / name
        parts.append(f"{name}\0{_tree(path, skip) if name.endswith('/') else _stat(path)}")
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()


def project_fingerprint(settings: Settings) -> dict[str, str]:
    """The project's files, Kontor's code, the libraries and the environment: what ``kontor check`` reads."""
    code = Path(__file__).resolve().parent.parent
    env = sorted((k, v) for k, v in settings.env.items()
                 if (k.startswith(ENV_PREFIXES) or k == "DAGSTER_HOME") and k not in ENV_IGNORED)
    return {
        "project": _project_files(settings),
        "kontor": _tree(code, set()) + ":" + _tree(code.parent / "assets", set()),
        "libraries": json.dumps(_versions(), sort_keys=True),
        "environment": hashlib.sha256(json.dumps(env).encode()).hexdigest(),
    }


def fingerprint(settings: Settings) -> dict[str, str]:
    """What a run reads, as of now (see the module's docstring)."""
    return {
        "day": dt.datetime.now(dt.timezone.utc).date().isoformat(),
        "data": _tree(settings.data_dir, set()),
        **project_fingerprint(settings),
        "state": _state(settings),
    }


def _outputs(settings: Settings) -> dict[str, str]:
    return {"warehouse": _stat(settings.warehouse_path), "warehouse_wal": _stat(Path(f"{settings.warehouse_path}.wal")),
            "serving": _stat(settings.serving_path)}


def record(settings: Settings, taken: dict[str, str], run_id: str, assets: dict[str, str | None]) -> Path:
    """After a complete successful run: ``taken`` as it started, the outputs as it left them."""
    path = settings.target_dir / RECORD
    body = {"run_id": run_id, "finished_at": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
            "inputs": taken, "outputs": _outputs(settings), "assets": assets}
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(body, indent=1), encoding="utf-8")
    tmp.replace(path)
    return path


def last_run(settings: Settings, now: dict[str, str]) -> dict | None:
    """The record of the last complete run when nothing changed since; None when a run has work."""
    try:
        body = json.loads((settings.target_dir / RECORD).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if body.get("inputs") != now or body.get("outputs") != _outputs(settings):
        return None
    if now.get("state", "").startswith("unreadable"):
        return None       # decisions we cannot read may have changed: the run reads them, or says why not
    return body
