"""Find the project's models, macros, seeds and their YAML properties, like dbt's parser.

One loader globs ``models/**/*.sql``; a model's name is its file name, its schema the first
folder under ``models/`` (``models/staging/stg_crm__accounts.sql`` → ``staging.stg_crm__accounts``).
Materialisation defaults per folder come from ``[tool.kontor.models.<folder>]``, then the YAML
``config:``, then ``{{ config(...) }}`` in the SQL, the last one winning (dbt's order).
"""
from __future__ import annotations

import csv
import itertools
import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pipelines.core import yamlfile
from pipelines.core.errors import Problem
from pipelines.core.settings import Settings
from pipelines.core.errors import did_you_mean
from pipelines.core.spec import validate
from pipelines.models.spec import CONFIG_KEYS, PropertiesYml
from pipelines.sources.spec import SourcesProject, load_sources

MATERIALIZATIONS = ("view", "table", "incremental", "snapshot")
FOLDER_DEFAULTS = {"staging": "view", "marts": "table", "snapshots": "snapshot"}
_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
# Folders under models/ that hold something other than SQL models.
NON_MODEL_DIRS = {"macros", "entities"}


@dataclass
class TestDecl:
    """One entry of ``data_tests:``/``tests:`` in a properties file, as written."""

    spec: Any                     # "unique" or {"relationships": {...}}
    column: str | None
    file: str
    line: int
    column_quote: bool = False


@dataclass
class ColumnDoc:
    name: str
    description: str = ""
    data_type: str | None = None
    line: int = 0
    constraints: list[Any] = field(default_factory=list)


@dataclass
class ModelProperties:
    description: str = ""
    columns: list[ColumnDoc] = field(default_factory=list)
    config: dict[str, Any] = field(default_factory=dict)
    meta: dict[str, Any] = field(default_factory=dict)
    file: str = ""
    line: int = 0
    tests: list[TestDecl] = field(default_factory=list)
    constraints: list[Any] = field(default_factory=list)


@dataclass
class Model:
    name: str
    schema: str
    path: Path
    rel_path: str
    raw_sql: str
    folder_config: dict[str, Any] = field(default_factory=dict)
    properties: ModelProperties = field(default_factory=ModelProperties)
    alias: str | None = None          # dbt's alias config: the relation's name
    folder: str | None = None         # the group (dbt projects: the first folder under models/)
    resource_type: str = "model"      # model | snapshot (dbt's node.resource_type)
    fqn: list[str] = field(default_factory=list)    # [project, folders..., name], dbt's node.fqn
    line_offset: int = 0              # a snapshot block's first line in its file

    @property
    def relation(self) -> str:
        return f"{self.schema}.{self.alias or self.name}"

    @property
    def group(self) -> str:
        return self.folder or self.schema


@dataclass
class Seed:
    name: str
    path: Path
    rel_path: str
    schema: str = "seeds"
    alias: str | None = None
    config: dict[str, Any] = field(default_factory=dict)
    properties: ModelProperties = field(default_factory=ModelProperties)
    fqn: list[str] = field(default_factory=list)

    @property
    def relation(self) -> str:
        return f"{self.schema}.{self.alias or self.name}"


@dataclass
class ModelProject:
    root: Path
    models: dict[str, Model]
    seeds: dict[str, Seed]
    macro_files: list[Path]
    sources: SourcesProject
    vars: dict[str, Any]
    problems: list[Problem] = field(default_factory=list)
    # Tables built by other stages that models may ref(): name -> (schema.table, columns);
    # the entity stage's golden records and xref, for example.
    externals: dict[str, tuple[str, list[str]]] = field(default_factory=dict)
    # dbt projects: the settings (dbt_project.yml, target), sources as existing relations
    # ((source, table) -> schema.identifier) and singular tests (tests/*.sql).
    dbt: Any = None
    dbt_sources: dict[tuple[str, str], str] = field(default_factory=dict)
    singular_tests: list[Path] = field(default_factory=list)
    unit_tests: list[Any] = field(default_factory=list)
    source_tests: list[Any] = field(default_factory=list)     # (source, table, TestDecl)
    one_step: bool = True       # every model in one Dagster step (assets/model_layer.py); False: a step per model
    docs: dict[str, str] = field(default_factory=dict)                 # {% docs %} blocks
    refused_models: dict[str, str] = field(default_factory=dict)       # a Python model's name -> its file
    target: dict[str, Any] = field(default_factory=dict)               # dbt's `target`
    package_macros: dict[str, list[Path]] = field(default_factory=dict)    # dbt_packages/<name>
    package_vars: dict[str, dict[str, Any]] = field(default_factory=dict)
    # dbt packages' models: (package, its dbt_project.yml, `enabled` as configured, maybe Jinja)
    package_models: list[tuple[str, str, Any]] = field(default_factory=list)
    warnings: list[Problem] = field(default_factory=list)     # reported, not refused (dbt warns too)
    # dbt's on-run-start / on-run-end of dbt_project.yml: key -> [(statement, line)]
    run_hooks: dict[str, list[tuple[str, int]]] = field(default_factory=dict)

    def model(self, name: str) -> Model:
        return self.models[name]


def _tool_config(settings: Settings) -> dict[str, Any]:
    text = (settings.project_dir / "pyproject.toml").read_text(encoding="utf-8")
    return tomllib.loads(text).get("tool", {}).get("kontor", {})


def _relative(settings: Settings, path: Path) -> str:
    return settings.relative(path)


def _properties(settings: Settings, models_dir: Path, problems: list[Problem]) -> dict[str, ModelProperties]:
    """``models:`` entries of every YAML file under models/ (sources.yml and entities aside)."""
    from pipelines.models.dbt_load import _tests   # dbt's data_tests:/tests: keys, run as gates

    found: dict[str, ModelProperties] = {}
    for path in sorted(models_dir.rglob("*.yml")) + sorted(models_dir.rglob("*.yaml")):
        rel = _relative(settings, path)
        if path.resolve() == settings.sources_file.resolve() or path.relative_to(models_dir).parts[0] in NON_MODEL_DIRS:
            continue
        try:
            doc = yamlfile.load(path, rel)
        except Exception as exc:  # ProjectError carries file:line already
            problems.extend(getattr(exc, "problems", [Problem(rel, None, str(exc))]))
            continue
        props, found_here = validate(PropertiesYml, doc, rel)
        problems += sorted(found_here, key=lambda p: p.line or 0)     # as the file reads
        for entry in props.models if props is not None else []:
            if entry.name in found:
                other = found[entry.name]
                problems.append(Problem(rel, entry.line, f"properties for model {entry.name!r} already given in "
                                                         f"{other.file}:{other.line}"))
                continue
            config = dict(entry.config)
            if entry.tags:
                config.setdefault("tags", list(entry.tags))
            columns, tests = [], _tests(entry, None, rel)
            for col in entry.columns:
                columns.append(ColumnDoc(col.name, str(col.description or ""), col.data_type, col.line))
                tests += _tests(col, col.name, rel, bool(col.quote))
            found[entry.name] = ModelProperties(str(entry.description or ""), columns, config, dict(entry.meta),
                                                rel, entry.line, tests)
    return found


def _folder_config(tool: dict[str, Any], schema: str) -> dict[str, Any]:
    config = {"materialized": FOLDER_DEFAULTS.get(schema, "view")}
    config.update(tool.get("models", {}).get(schema, {}))
    return config


def _folder_config_problems(settings: Settings, tool: dict[str, Any]) -> list[Problem]:
    """Unknown keys in ``[tool.kontor.models.<folder>]``: a typo there (``materialised``) would
    otherwise silently build every model of the folder with the default materialisation."""
    pyproject = settings.project_dir / "pyproject.toml"
    lines = pyproject.read_text(encoding="utf-8").splitlines()
    problems = []
    for folder, config in (tool.get("models") or {}).items():
        for key in config if isinstance(config, dict) else []:
            if key in CONFIG_KEYS:
                continue
            header = next((i for i, text in enumerate(lines) if text.strip() == f"[tool.kontor.models.{folder}]"), None)
            section = [] if header is None else \
                list(itertools.takewhile(lambda i: not lines[i].lstrip().startswith("["), range(header + 1, len(lines))))
            line = next((i + 1 for i in section if re.match(rf"\s*{re.escape(key)}\s*=", lines[i])), None)
            problems.append(Problem(_relative(settings, pyproject), line, f"unknown config {key!r} in "
                                    f"[tool.kontor.models.{folder}]{did_you_mean(str(key), CONFIG_KEYS)}"))
    return problems


def load_models(settings: Settings, sources: SourcesProject | None = None) -> ModelProject:
    """Every model, macro file and seed of the project; problems are collected, not raised."""
    if settings.dbt is not None:
        from pipelines.models.dbt_load import load_dbt_models   # dbt's layout and rules

        project = load_dbt_models(settings)
        project.one_step = settings.models_in_one_step
        return project
    root = settings.project_dir
    models_dir = root / "models"
    tool = _tool_config(settings)
    problems: list[Problem] = _folder_config_problems(settings, tool)
    if sources is None:
        sources = load_sources(settings.sources_file, settings.relative(settings.sources_file)) \
            if settings.sources_file.is_file() else SourcesProject((), {})
    properties = _properties(settings, models_dir, problems) if models_dir.is_dir() else {}
    models: dict[str, Model] = {}
    for path in sorted(models_dir.rglob("*.sql")) if models_dir.is_dir() else []:
        parts = path.relative_to(models_dir).parts
        if parts[0] in NON_MODEL_DIRS:
            continue
        rel = _relative(settings, path)
        name = path.stem
        if not _NAME.match(name):
            problems.append(Problem(rel, None, f"model name {name!r} must be a SQL identifier (letters, digits, _)"))
            continue
        if name in models:
            problems.append(Problem(rel, None, f"duplicate model name {name!r}, also {models[name].rel_path}; model names are unique across folders"))
            continue
        schema = parts[0] if len(parts) > 1 else "main"
        models[name] = Model(name, schema, path, rel, path.read_text(encoding="utf-8"),
                             folder_config=_folder_config(tool, schema),
                             properties=properties.get(name, ModelProperties()))
    for name, props in properties.items():
        if name not in models:
            problems.append(Problem(props.file, props.line, f"properties for unknown model {name!r}{did_you_mean(name, set(models))}"))
    macro_files = sorted((root / "macros").glob("**/*.sql")) + sorted((models_dir / "macros").glob("**/*.sql"))
    seeds = {p.stem: Seed(p.stem, p, _relative(settings, p)) for p in sorted((root / "seeds").glob("*.csv"))}
    for name in set(seeds) & set(models):
        problems.append(Problem(seeds[name].rel_path, None, f"seed {name!r} has the same name as model {models[name].rel_path}"))
    from pipelines.entities.spec import entity_outputs   # late: the entity spec reads compiled models

    externals = entity_outputs(root)
    for name in set(externals) & (set(models) | set(seeds)):
        problems.append(Problem(models[name].rel_path if name in models else seeds[name].rel_path, None,
                                f"{name!r} is also a table of the entity stage ({externals[name][0]}); rename the model"))
    return ModelProject(root, models, seeds, macro_files, sources, dict(tool.get("vars", {})), problems, externals,
                        one_step=settings.models_in_one_step)


def seed_columns(seed: Seed) -> list[str]:
    with open(seed.path, newline="", encoding="utf-8") as fh:
        return next(csv.reader(fh), [])
