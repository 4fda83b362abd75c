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
from pipelines.sources.spec import SourcesProject, load_sources
from pipelines.core.yamlfile import LineDict

MATERIALIZATIONS = ("view", "table", "incremental", "snapshot")
FOLDER_DEFAULTS = {"staging": "view", "marts": "table", "snapshots": "snapshot"}
# The schema is always the folder (a rule, no special cases), so dbt's `schema` config is not here.
CONFIG_KEYS = {
    "materialized", "unique_key", "incremental_strategy", "dialect", "tags", "owner", "strategy",
    "updated_at", "check_cols", "invalidate_hard_deletes", "enabled", "full_refresh",
}
# What a dbt project may configure on top (dbt's own names and meanings; see pipelines/models/dbt.py).
DBT_CONFIG_KEYS = CONFIG_KEYS | {
    "schema", "alias", "pre_hook", "post_hook", "on_schema_change", "contract", "meta", "docs", "persist_docs",
    "grants", "database", "group", "access", "sql_header", "target_schema", "target_database",
    "snapshot_meta_column_names", "hard_deletes", "dbt_valid_to_current", "packages", "incremental_predicates",
    "merge_update_columns", "merge_exclude_columns", "quoting", "on_configuration_change", "column_types",
    "quote_columns", "delimiter", "file_format",
}
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
    target: dict[str, Any] = field(default_factory=dict)               # dbt's `target`
    package_macros: dict[str, list[Path]] = field(default_factory=dict)    # dbt_packages/<name>
    package_vars: dict[str, dict[str, Any]] = field(default_factory=dict)

    def model(self, name: str) -> Model:
        return self.models[name]


def _tool_config(settings: Settings) -> dict[str, Any]:
    text = (settings.project_dir / "pyproject.toml").read_text(encoding="utf-8")
    return tomllib.loads(text).get("tool", {}).get("kontor", {})


def _relative(settings: Settings, path: Path) -> str:
    return settings.relative(path)


def _properties(settings: Settings, models_dir: Path, problems: list[Problem]) -> dict[str, ModelProperties]:
    """``models:`` entries of every YAML file under models/ (sources.yml and entities aside)."""
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
        if not isinstance(doc, LineDict):
            continue
        for key in doc:
            if key not in ("version", "models"):
                problems.append(Problem(rel, doc.key_line(key), f"unknown key {key!r}; model properties go under 'models:'"
                                        + (" and sources into models/sources.yml" if key == "sources" else "")))
        for entry in doc.get("models") or []:
            if not isinstance(entry, LineDict) or not isinstance(entry.get("name"), str):
                problems.append(Problem(rel, getattr(entry, "line", doc.line), "a model entry needs a name"))
                continue
            name = entry["name"]
            if name in found:
                problems.append(Problem(rel, entry.line, f"properties for model {name!r} already given in {found[name].file}:{found[name].line}"))
                continue
            for key in entry:
                if key not in ("name", "description", "columns", "config", "meta", "tags", "docs", "data_tests", "tests"):
                    problems.append(Problem(rel, entry.key_line(key), f"unknown key {key!r} in model properties"
                                            + did_you_mean(str(key), {"description", "columns", "config", "meta", "tags",
                                                                      "data_tests"})))
            config = dict(entry.get("config") or {})
            for key in config:
                if key not in CONFIG_KEYS:
                    problems.append(Problem(rel, entry["config"].key_line(key), f"unknown config {key!r}{did_you_mean(str(key), CONFIG_KEYS)}"))
            if entry.get("tags"):
                config.setdefault("tags", list(entry["tags"]))
            from pipelines.models.dbt_load import _tests   # dbt's data_tests:/tests: keys, run as gates

            columns, tests = [], _tests(entry, None, rel, problems)
            for col in entry.get("columns") or []:
                if isinstance(col, LineDict) and isinstance(col.get("name"), str):
                    for key in col:
                        if key not in COLUMN_KEYS:
                            problems.append(Problem(rel, col.key_line(key), _unknown_column_key(key, col[key], col["name"])))
                    columns.append(ColumnDoc(col["name"], str(col.get("description") or ""), col.get("data_type"), col.line))
                    tests += _tests(col, col["name"], rel, problems, bool(col.get("quote")))
            found[name] = ModelProperties(str(entry.get("description") or ""), columns, config,
                                          dict(entry.get("meta") or {}), rel, entry.line, tests)
    return found


# The keys dbt accepts on a column; anything else is a typo or a description split by a comma.
COLUMN_KEYS = {"name", "description", "data_type", "meta", "tags", "tests", "data_tests", "quote",
               "constraints", "config", "policy_tags", "granularity", "docs"}


def _unknown_column_key(key: Any, value: Any, column: str) -> str:
    """The message for a key a column does not have, with the usual cause when it is a comma.

    >>> _unknown_column_key("ISO 4217", None, "currency_code")  # doctest: +NORMALIZE_WHITESPACE
    "unknown key 'ISO 4217' in column 'currency_code'; fix: quote the description: in
    {description: a, b} the comma ends the text and 'b' becomes a key"
    """
    if value is None and " " in str(key):
        return (f"unknown key {key!r} in column {column!r}; fix: quote the description: in "
                "{description: a, b} the comma ends the text and 'b' becomes a key")
    return f"unknown key {key!r} in column {column!r}{did_you_mean(str(key), COLUMN_KEYS)}"


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
