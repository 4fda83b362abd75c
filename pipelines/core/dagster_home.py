"""The local Dagster instance's directory and its ``dagster.yaml``, written without importing Dagster.

``kontor dev`` prepares ``DAGSTER_HOME`` and hands it to ``dagster dev``: loading Dagster (and the
event log storage of ``pipelines/core/dagster_instance.py``) in ``kontor dev``'s own process would
only delay the UI by the seconds the import takes on a busy machine.
"""
from __future__ import annotations

import json
from pathlib import Path

from pipelines.core.settings import Settings

MARKER = "# Written by kontor"
# What Kontor wrote before the event log kept its files open: still Kontor's, so it is upgraded.
LEGACY_CONFIGS = ("telemetry:\n  enabled: false\n",)


def dagster_yaml(home: Path) -> str:
    """The instance configuration Kontor writes: SQLite storage under ``home``, no telemetry."""
    return (
        f"{MARKER} (pipelines/core/dagster_instance.py). Edit freely: once this first line is gone,\n"
        "# kontor leaves the file alone (e.g. storage: postgres: ... for production).\n"
        "telemetry:\n"
        "  enabled: false\n"
        "event_log_storage:\n"
        "  module: pipelines.core.dagster_instance\n"
        "  class: KeptOpenSqliteEventLogStorage\n"
        "  config:\n"
        f"    base_dir: {json.dumps(str(home / 'history' / 'runs'))}\n"    # JSON strings are YAML
    )


def write_dagster_yaml(home: Path) -> bool:
    """Create or upgrade ``home/dagster.yaml`` if Kontor owns it; True if it was written."""
    config = home / "dagster.yaml"
    wanted = dagster_yaml(home)
    current = config.read_text(encoding="utf-8") if config.exists() else None
    if current == wanted or not (current is None or current in LEGACY_CONFIGS or current.startswith(MARKER)):
        return False
    tmp = config.with_name(f".{config.name}.tmp")
    tmp.write_text(wanted, encoding="utf-8")
    tmp.replace(config)        # a concurrent reader sees the old file or the new one, never half
    return True


def prepare_dagster_home(settings: Settings) -> Path:
    """The instance directory, with Kontor's dagster.yaml (created, or upgraded if Kontor wrote it):
    local SQLite storage whose event log keeps its files open, and no telemetry (a closed network
    must not see failing phone-home calls). See ``pipelines/core/dagster_instance.py``."""
    home = settings.dagster_home
    home.mkdir(parents=True, exist_ok=True)
    write_dagster_yaml(home)
    return home
