"""What Splink said of an entity file's settings, remembered for ``kontor check``.

Checking ``splink:`` asks Splink three things: which comparisons ``splink.comparison_library``
exports, what a named comparison with its arguments expands to (or why it cannot), and whether
the whole settings dictionary is valid. Importing Splink and building its settings is a good part
of a check; the answers depend only on the question and on the versions of Splink and of what it
builds SQL with (sqlglot, DuckDB). They are kept in ``target/.cache/splink_checks.json`` under
those versions; an answer that does not survive JSON unchanged is not kept. Only ``kontor check``
remembers (``load_entities(..., remembered=...)``): a run builds Splink's settings itself.
"""
from __future__ import annotations

import json
import os
from importlib import metadata
from pathlib import Path
from typing import Any

_VERSION = 1


def _versions() -> list[str]:
    found = []
    for dist in ("splink", "sqlglot", "duckdb"):
        try:
            found.append(f"{dist}={metadata.version(dist)}")
        except metadata.PackageNotFoundError:
            found.append(f"{dist}=none")
    return found


def _as_json(value: Any) -> str | None:
    """``value`` as JSON text when it reads back equal, else None (then it is not remembered)."""
    try:
        text = json.dumps(value)   # key order kept: Splink may name keys in the order written
    except (TypeError, ValueError):
        return None
    return text if json.loads(text) == value else None


class SplinkAnswers:
    """``library()``, ``comparison(name, args, configure)`` and ``settings_problem(settings)``:
    Splink's answers, remembered in ``path`` (None: asked every time, nothing kept)."""

    def __init__(self, path: Path | None):
        self.path = path
        self.versions = _versions() if path is not None else []     # nothing read or kept without a file
        self.data: dict[str, Any] = {"version": _VERSION, "versions": self.versions, "library": None,
                                     "comparisons": {}, "settings": {}}
        self.changed = False
        if path is not None and path.is_file():
            try:
                data = json.loads(path.read_text(encoding="utf-8"))
                if data.get("version") == _VERSION and data.get("versions") == self.versions \
                        and isinstance(data.get("comparisons"), dict) and isinstance(data.get("settings"), dict):
                    self.data = data
            except (OSError, ValueError, AttributeError):
                pass       # a damaged file: Splink is asked again

    def library(self) -> set[str]:
        """The names ``splink.comparison_library`` exports (its ``__all__``)."""
        names = self.data.get("library")
        if isinstance(names, list) and all(isinstance(n, str) for n in names):
            return set(names)
        import splink.comparison_library as cl

        names = sorted(cl.__all__)
        self.data["library"], self.changed = names, True
        return set(names)

    def comparison(self, name: str, args: dict, configure: dict | None) -> tuple[dict | None, str | None]:
        """(the comparison as Splink's dictionary, None) or (None, Splink's complaint)."""
        key = _as_json([name, args, configure])
        found = self.data["comparisons"].get(key) if key is not None else None
        if isinstance(found, list) and len(found) == 2:
            return (found[1], None) if found[0] == "ok" else (None, str(found[1]))
        import splink.comparison_library as cl

        try:
            built = getattr(cl, name)(**args)
            if configure:
                built = built.configure(**configure)
            answer: tuple[dict | None, str | None] = (built.get_comparison("duckdb").as_dict(), None)
        except Exception as exc:  # noqa: BLE001 - Splink raises TypeError / ValueError / its own errors for bad arguments
            answer = (None, str(exc))
        stored = ["ok", answer[0]] if answer[1] is None else ["error", answer[1]]
        if key is not None and _as_json(stored) is not None:
            self.data["comparisons"][key], self.changed = stored, True
        return answer

    def settings_problem(self, settings: dict) -> str | None:
        """The first line of Splink's complaint about a settings dictionary, None when it takes them."""
        key = _as_json(settings)
        if key is not None and key in self.data["settings"]:
            found = self.data["settings"][key]
            return found if isinstance(found, str) else None
        from splink import SettingsCreator

        try:
            SettingsCreator.from_path_or_dict(settings).get_settings("duckdb")
            problem = None
        except Exception as exc:  # noqa: BLE001 - Splink's own validation: unknown keys, bad values
            problem = str(exc).splitlines()[0]
        if key is not None:
            self.data["settings"][key], self.changed = problem, True
        return problem

    def save(self) -> None:
        if self.path is None or not self.changed:
            return
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            tmp = self.path.with_name(f".{self.path.name}.{os.getpid()}.tmp")
            tmp.write_text(json.dumps(self.data), encoding="utf-8")
            os.replace(tmp, self.path)
        except OSError:
            pass       # a read-only target: Splink is asked again next time
        self.changed = False
