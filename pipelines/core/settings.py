"""Project settings: ``[tool.kontor]`` in pyproject.toml, per-machine values from the environment.

Nothing here runs at import time; callers ask for settings when they need them, so tests and
the CLI can point Kontor at any project directory.
"""
from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from pipelines.core.errors import KontorError

if TYPE_CHECKING:
    from pipelines.models.dbt import DbtProject, DbtTarget

# The repository this package was installed from: the default project when nothing else is said.
_PACKAGE_PROJECT = Path(__file__).resolve().parent.parent


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
    # Every SQL model in one Dagster step (dagster-dbt's pattern; KONTOR_MODELS_IN_ONE_STEP=1).
    models_in_one_step: bool = False
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
        models_in_one_step=_flag(env.get("KONTOR_MODELS_IN_ONE_STEP")),
        env=env, dbt=project, dbt_target=target)


def _flag(value) -> bool:
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
    try:
        tool = tomllib.loads(pyproject.read_text(encoding="utf-8")).get("tool", {}).get("kontor", {})
    except tomllib.TOMLDecodeError as exc:
        raise KontorError(f"{pyproject}: {exc}; fix: correct the TOML syntax") from exc

    def path_setting(env_name: str, key: str, default: str) -> Path:
        value = env.get(env_name) or tool.get(key, default)
        path = Path(value)
        return (path if path.is_absolute() else root / path).resolve()

    memory_limit = env.get("KONTOR_MEMORY_LIMIT") or tool.get("memory_limit")
    threads = env.get("KONTOR_THREADS") or tool.get("threads")
    if threads is not None:
        try:
            threads = int(threads)
            if threads < 1:
                raise ValueError
        except (TypeError, ValueError):
            raise KontorError(f"{pyproject}: threads = {threads!r} is not a positive whole number; "
                              "fix: write e.g. threads = 2 in [tool.kontor] (or KONTOR_THREADS=2)") from None
    return Settings(
        project_dir=root,
        data_dir=path_setting("KONTOR_DATA_DIR", "data_dir", "data"),
        target_dir=path_setting("KONTOR_TARGET", "target_dir", "target"),
        sources_file=(root / tool.get("sources", "models/sources.yml")).resolve(),
        name=str(tool.get("name", "kontor")),
        memory_limit=str(memory_limit) if memory_limit else None,
        threads=threads,
        models_in_one_step=_flag(env.get("KONTOR_MODELS_IN_ONE_STEP") or tool.get("models_in_one_step", False)),
        env=env,
    )


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
