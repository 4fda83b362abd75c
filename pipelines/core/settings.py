"""Project settings: ``[tool.kontor]`` in pyproject.toml, per-machine values from the environment.

Nothing here runs at import time; callers ask for settings when they need them, so tests and
the CLI can point Kontor at any project directory. ``[tool.kontor]`` is a pydantic model read by
the one loader of project files, so an unknown key is named at its line with a did-you-mean::

    >>> table, problems = read_tool_kontor('[tool.kontor]\\nname = "x"\\ndata_dirr = "d"\\n', "pyproject.toml")
    >>> table.name, [str(p) for p in problems]
    ('x', ["pyproject.toml:3: unknown key 'data_dirr' in [tool.kontor]; did you mean 'data_dir'?"])
"""
from __future__ import annotations

import os
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import SimpleNamespace
from typing import TYPE_CHECKING, Any

from pipelines.core.errors import KontorError, Problem

if TYPE_CHECKING:
    from pipelines.core.settings_spec import KontorTable
    from pipelines.models.dbt import DbtProject, DbtTarget

# The repository this package was installed from: the default project when nothing else is said.
_PACKAGE_PROJECT = Path(__file__).resolve().parents[2]


@dataclass(frozen=True)
class Settings:
    project_dir: Path
    data_dir: Path
    target_dir: Path
    sources_file: Path
    name: str = "kontor"
    # DuckDB's memory_limit ("4GB") and threads for the warehouse; None: DuckDB's defaults
    # (80 % of RAM, one thread per core). Past the limit DuckDB spills to <warehouse file>.tmp.
    memory_limit: str | None = None
    threads: int | None = None
    # Every SQL model in one Dagster step (dagster-dbt's pattern), the default; false (or
    # KONTOR_MODELS_IN_ONE_STEP=0): one step per model.
    models_in_one_step: bool = True
    # Where `kontor run` records its runs (``HISTORIES``): "instance", the Dagster instance in
    # ``dagster_home`` (in the storage its dagster.yaml names: SQLite, Postgres), where `kontor dev`
    # shows them; "none", an in-memory instance (faster, not in the UI). KONTOR_HISTORY overrides it.
    history: str = "instance"
    env: Mapping[str, str] = field(default_factory=dict, repr=False, compare=False)
    # A dbt project (dbt_project.yml, no [tool.kontor]): its files and the profile's DuckDB target.
    dbt: "DbtProject | None" = field(default=None, repr=False, compare=False)
    dbt_target: "DbtTarget | None" = field(default=None, repr=False, compare=False)

    @property
    def warehouse_path(self) -> Path:
        if self.dbt_target is not None:     # dbt's profile says where the warehouse is
            return self.dbt_target.path
        return self.target_dir / "warehouse.duckdb"

    @property
    def serving_path(self) -> Path:
        return self.target_dir / "serving.duckdb"

    @property
    def dagster_home(self) -> Path:
        return Path(self.env["DAGSTER_HOME"]) if self.env.get("DAGSTER_HOME") else self.target_dir / "dagster"

    def relative(self, path: Path) -> str:
        """A path as the user wrote it: relative to the project where possible."""
        try:
            return str(path.resolve().relative_to(self.project_dir))
        except ValueError:
            return str(path)


def _threads(threads: Any) -> int:
    try:
        if isinstance(threads, bool) or int(threads) < 1:
            raise ValueError
    except (TypeError, ValueError):
        raise ValueError(f"threads = {threads!r} is not a positive whole number; "
                         "fix: write e.g. threads = 2 in [tool.kontor] (or KONTOR_THREADS=2)") from None
    return int(threads)


_TOML_HEADER = re.compile(r"^\s*\[([^\[\]]+)\]\s*(#.*)?$")
_TOML_KEY = re.compile(r"^\s*([A-Za-z0-9_.\-\"' ]+?)\s*=")


def _toml_lines(text: str) -> dict[tuple[str, ...], int]:
    """The line of each table header and key, by path: enough to point at a setting (values
    come from tomllib)."""
    lines: dict[tuple[str, ...], int] = {}
    table: tuple[str, ...] = ()
    for number, line in enumerate(text.splitlines(), 1):
        if m := _TOML_HEADER.match(line):
            table = tuple(part.strip().strip("\"'") for part in m[1].split("."))
            lines.setdefault(table, number)
        elif m := _TOML_KEY.match(line):
            lines.setdefault(table + tuple(part.strip().strip("\"'") for part in m[1].split(".")), number)
    return lines


def _with_lines(value: Any, lines: dict[tuple[str, ...], int], path: tuple[str, ...]) -> Any:
    from pipelines.core.yamlfile import LineDict

    if not isinstance(value, dict):
        return value
    result = LineDict()
    result.line, result.key_lines = lines.get(path, 0), {}
    for key, item in value.items():
        result[key] = _with_lines(item, lines, (*path, key))
        result.key_lines[key] = lines.get((*path, key), result.line)
    return result


def _tool_kontor(text: str, shown: str) -> dict[str, Any]:
    try:
        return tomllib.loads(text).get("tool", {}).get("kontor", {})
    except tomllib.TOMLDecodeError as exc:
        raise KontorError(f"{shown}: {exc}; fix: correct the TOML syntax") from exc


def read_tool_kontor(text: str, shown: str) -> tuple[KontorTable, list[Problem]]:
    """``[tool.kontor]`` of a pyproject.toml's text, and its problems at their lines."""
    from pipelines.core.settings_spec import KontorTable
    from pipelines.core.spec import validate

    tool = _tool_kontor(text, shown)
    table, problems = validate(KontorTable, _with_lines(tool, _toml_lines(text), ("tool", "kontor")), shown)
    return table or KontorTable(), problems


# The keys of [tool.kontor] a Settings is made of, their TOML type and default (KontorTable's).
PLAIN_KEYS: dict[str, tuple[type, Any]] = {
    "name": (str, "kontor"), "data_dir": (str, "data"), "target_dir": (str, "target"),
    "sources": (str, "models/sources.yml"), "memory_limit": (str, None), "threads": (int, None),
    "models_in_one_step": (bool, None),   # None: the default, one step
    "history": (str, None),               # None: "instance"
}
# The values of ``history`` (pipelines/core/dagster_instance.py says what each costs).
HISTORIES = ("instance", "none")


def _history(value: str | None, where: str) -> str:
    """``history`` as given (None or empty: "instance"), or a KontorError naming the choices."""
    if value is None or str(value).strip() == "":
        return "instance"
    if value not in HISTORIES:
        raise KontorError(f"{where}: history = {value!r}; fix: one of " + ", ".join(f'"{h}"' for h in HISTORIES))
    return value


def _plain_tool_kontor(text: str, shown: str) -> SimpleNamespace | None:
    """``[tool.kontor]``'s keys of ``PLAIN_KEYS`` when each is absent or a TOML value of its type
    (``threads`` a whole number from 1): KontorTable would take them as they are, so the values
    need no pydantic (whose import is a third of ``kontor query "select 1"``). None otherwise:
    then ``read_tool_kontor`` words what is wrong. Unknown keys are ``kontor check``'s either way."""
    tool = _tool_kontor(text, shown)
    values = {key: default for key, (_, default) in PLAIN_KEYS.items()}
    for key, (kind, _) in PLAIN_KEYS.items():
        if key in tool:
            value = tool[key]
            if type(value) is not kind or (kind is int and value < 1):
                return None
            values[key] = value
    return SimpleNamespace(**values)


def _has_tool_kontor(root: Path) -> bool:
    pyproject = root / "pyproject.toml"
    return pyproject.is_file() and "[tool.kontor" in pyproject.read_text(encoding="utf-8")


def find_project_dir(start: Path) -> Path | None:
    """The nearest directory at or above ``start`` whose pyproject.toml has ``[tool.kontor]``, or
    that holds a ``dbt_project.yml`` (a dbt project is a Kontor project as it is)."""
    for candidate in [start, *start.parents]:
        if _has_tool_kontor(candidate) or (candidate / "dbt_project.yml").is_file():
            return candidate
    return None


def _dbt_settings(root: Path, env: dict[str, str]) -> Settings:
    """dbt's files say everything: paths in dbt_project.yml, the warehouse in profiles.yml."""
    from pipelines.models.dbt import load_dbt_project, load_target

    project = load_dbt_project(root)
    target = load_target(root, project.profile, env)
    target_path = str(project.doc.get("target-path", "target")) if project.doc else "target"
    target_dir = Path(env.get("KONTOR_TARGET") or target_path)
    return Settings(
        project_dir=root, data_dir=root / "data",
        target_dir=(target_dir if target_dir.is_absolute() else root / target_dir).resolve(),
        sources_file=Path(__file__).resolve().parent.parent / "models" / "dbt_no_sources.yml", name=project.name,
        memory_limit=env.get("KONTOR_MEMORY_LIMIT") or None,
        threads=int(env["KONTOR_THREADS"]) if env.get("KONTOR_THREADS") else None,  # profile threads: dbt's concurrency
        models_in_one_step=_flag(env.get("KONTOR_MODELS_IN_ONE_STEP"), default=True),
        history=_history(env.get("KONTOR_HISTORY"), "KONTOR_HISTORY"),
        env=env, dbt=project, dbt_target=target)


def _flag(value, default: bool = False) -> bool:
    if value is None or str(value).strip() == "":
        return default
    return str(value).strip().lower() in ("1", "true", "yes", "on")


def load_settings(project_dir: Path | str | None = None, env: Mapping[str, str] | None = None) -> Settings:
    """Settings for a project: explicit dir, else ``KONTOR_PROJECT_DIR``, else the cwd's project,
    else the repository Kontor was installed from."""
    env = dict(os.environ if env is None else env)
    if project_dir is None and env.get("KONTOR_PROJECT_DIR"):
        project_dir = env["KONTOR_PROJECT_DIR"]
    root = Path(project_dir).resolve() if project_dir else (find_project_dir(Path.cwd()) or _PACKAGE_PROJECT)
    pyproject = root / "pyproject.toml"
    if (root / "dbt_project.yml").is_file() and not _has_tool_kontor(root):
        return _dbt_settings(root, env)
    if not pyproject.is_file():
        raise KontorError(f"{pyproject}: not found; fix: run kontor inside a project or set KONTOR_PROJECT_DIR")
    text = pyproject.read_text(encoding="utf-8")
    tool = _plain_tool_kontor(text, str(pyproject))
    if tool is None:
        tool, problems = read_tool_kontor(text, str(pyproject))
        unusable = [p for p in problems if not p.message.startswith("unknown key")]   # those: kontor check
        if unusable:
            raise KontorError("\n".join(map(str, unusable)))

    def path_setting(env_name: str, value: str) -> Path:
        path = Path(env.get(env_name) or value)
        return (path if path.is_absolute() else root / path).resolve()

    threads = tool.threads
    if env.get("KONTOR_THREADS"):
        try:
            threads = _threads(env["KONTOR_THREADS"])
        except ValueError as exc:
            raise KontorError(f"KONTOR_THREADS: {exc}") from None
    return Settings(
        project_dir=root,
        data_dir=path_setting("KONTOR_DATA_DIR", tool.data_dir),
        target_dir=path_setting("KONTOR_TARGET", tool.target_dir),
        sources_file=(root / tool.sources).resolve(),
        name=tool.name,
        memory_limit=env.get("KONTOR_MEMORY_LIMIT") or tool.memory_limit or None,
        threads=threads,
        models_in_one_step=_flag(env.get("KONTOR_MODELS_IN_ONE_STEP") or tool.models_in_one_step, default=True),
        history=_history(env.get("KONTOR_HISTORY"), "KONTOR_HISTORY") if env.get("KONTOR_HISTORY")
        else _history(tool.history, f"{pyproject} [tool.kontor]"),
        env=env,
    )


def settings_problems(settings: Settings) -> list[Problem]:
    """Problems of ``[tool.kontor]`` itself (unknown keys, wrong types), at their lines."""
    pyproject = settings.project_dir / "pyproject.toml"
    if not pyproject.is_file():
        return []
    return read_tool_kontor(pyproject.read_text(encoding="utf-8"), settings.relative(pyproject))[1]


def tool_table(settings: Settings, name: str) -> dict:
    """``[tool.kontor.<name>]`` of the project's pyproject.toml (empty when absent), read on demand."""
    pyproject = settings.project_dir / "pyproject.toml"
    if settings.dbt is not None and not pyproject.is_file():
        return {}       # a dbt project: Kontor's own settings keep their defaults
    try:
        tool = tomllib.loads(pyproject.read_text(encoding="utf-8")).get("tool", {}).get("kontor", {})
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise KontorError(f"{pyproject}: {exc}; fix: correct the TOML syntax") from exc
    table = tool.get(name, {})
    if not isinstance(table, dict):
        raise KontorError(f"{pyproject}: [tool.kontor.{name}] must be a table; fix: write it as a [section]")
    return table
