"""Load a dbt project's nodes as dbt's parser does: models, snapshots, seeds, sources, tests, docs.

Paths come from ``dbt_project.yml`` (``model-paths`` ...), folder configs from its ``models:`` /
``seeds:`` / ``snapshots:`` trees, properties from every ``.yml`` beside the nodes. A model's
schema is the target's until ``compile`` applies ``+schema`` through ``generate_schema_name``.
Keys dbt reads but that change nothing in what is built (``semantic_models``, ``metrics``,
``exposures``, ``docs`` ...) are accepted; anything Kontor cannot honour is a problem at its line.
"""
from __future__ import annotations

import logging
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import jinja2

from pipelines.core import yamlfile
from pipelines.core.errors import Problem
from pipelines.models.dbt import DbtProject, folder_config, project_vars
from pipelines.models.project import (
    ColumnDoc,
    Model,
    ModelProject,
    ModelProperties,
    Seed,
    TestDecl,
)
from pipelines.core.settings import Settings
from pipelines.core.errors import did_you_mean
from pipelines.core.spec import validate
from pipelines.models.spec import METADATA_KEYS, READ_KEYS, DbtPropertiesYml, dbt_config
from pipelines.sources.spec import SourcesProject
from pipelines.core.yamlfile import LineDict
from pipelines.models.render import ForeignSource

log = logging.getLogger("kontor.models")

_SNAPSHOT = re.compile(r"{%-?\s*snapshot\s+(\w+)\s*-?%}(.*?){%-?\s*endsnapshot\s*-?%}", re.S)
_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def _rel(settings: Settings, path: Path) -> str:
    return settings.relative(path)


def _tests(entry: Any, column: str | None, file: str, quote: bool = False) -> list[TestDecl]:
    """The ``data_tests:``/``tests:`` of a node or column (a properties model or, for sources, a
    mapping as written), each at the line of the test's name."""
    found = []
    for key in ("data_tests", "tests"):
        items = (entry.get(key) if isinstance(entry, dict) else getattr(entry, key)) or []
        for i, spec in enumerate(items):
            line = items.item_line(i) if hasattr(items, "item_line") else entry.key_line(key)
            if isinstance(spec, LineDict) and spec:
                line = spec.key_line(next(iter(spec)))     # the test's name, not its first argument
            found.append(TestDecl(spec, column, file, line, quote))
    return found


def _source_value(value: Any, context: Mapping[str, Any], file: str, line: int | None,
                  problems: list[Problem]) -> str | None:
    """A source's ``schema``/``database``/``identifier`` as dbt renders it: Jinja with ``target``,
    ``var`` and ``env_var`` (``schema: "{{ target.schema }}"``)."""
    if value is None or value == "":
        return None
    if not isinstance(value, str) or "{{" not in value:
        return str(value)
    try:
        return jinja2.Environment(undefined=jinja2.StrictUndefined).from_string(value).render(**context).strip()
    except Exception as exc:  # noqa: BLE001 - reported at the line, as any Jinja error
        problems.append(Problem(file, line, f"{value!r} cannot be rendered: {type(exc).__name__}: {exc}"))
        return None


def _properties(path: Path, file: str, props: dict[str, dict[str, ModelProperties]],
                sources: dict[tuple[str, str], str], source_tests: list, unit_tests: list,
                context: Mapping[str, Any], problems: list[Problem], ignored: list[Problem]) -> None:
    try:
        doc = yamlfile.load(path, file)
    except Exception as exc:  # ProjectError carries file:line already
        problems.extend(getattr(exc, "problems", [Problem(file, None, str(exc))]))
        return
    # dbt reads the top-level keys it knows and ignores the rest (a `tests:` written at the top
    # level: its tests never run in dbt), so they are a warning here, not a refusal.
    for key in [k for k in doc if k not in READ_KEYS | METADATA_KEYS] if isinstance(doc, LineDict) else []:
        ignored.append(Problem(file, doc.key_line(key), f"unknown top-level key {key!r}"
                               f"{did_you_mean(str(key), READ_KEYS | METADATA_KEYS)} (ignored, as dbt ignores it)"))
        del doc[key]
    parsed, found = validate(DbtPropertiesYml, doc, file)
    problems += sorted(found, key=lambda p: p.line or 0)     # as the file reads
    if parsed is None:
        return
    for kind in ("models", "seeds", "snapshots"):
        for entry in getattr(parsed, kind):
            config = {dbt_config(k): v for k, v in entry.config.items()}
            if entry.tags:
                config.setdefault("tags", list(entry.tags))
            columns, tests = [], _tests(entry, None, file)
            for col in entry.columns:
                columns.append(ColumnDoc(col.name, str(col.description or ""), col.data_type, col.line,
                                         list(col.constraints or [])))
                tests += _tests(col, col.name, file, bool(col.quote))
            if entry.name in props[kind]:
                other = props[kind][entry.name]
                problems.append(Problem(file, entry.line, f"properties for {entry.name!r} already given in "
                                                          f"{other.file}:{other.line}"))
                continue
            props[kind][entry.name] = ModelProperties(str(entry.description or ""), columns, config, dict(entry.meta),
                                                      file, entry.line, tests, list(entry.constraints or []))
    for src in parsed.sources or []:
        if not isinstance(src, LineDict) or not isinstance(src.get("name"), str):
            problems.append(Problem(file, getattr(src, "line", doc.line), "a source needs a name"))
            continue
        schema = _source_value(src.get("schema"), context, file, src.line, problems) or src["name"]
        own = context["target"]["database"]
        for table in src.get("tables") or []:
            if not isinstance(table, LineDict) or not isinstance(table.get("name"), str):
                problems.append(Problem(file, getattr(table, "line", src.line), "a source table needs a name"))
                continue
            # dbt-duckdb reads a source of another database from a file the profile attaches: Kontor
            # has one DuckDB file, and reading the same schema there instead would be another table.
            database = _source_value(table.get("database") or src.get("database"), context, file, table.line, problems)
            identifier = _source_value(table.get("identifier"), context, file, table.line, problems) or table["name"]
            relation = f"{schema}.{identifier}"
            if database and database != own:
                # named by its three parts: a model reading it fails when it runs (as in dbt when
                # that database is not attached), the rest builds; never the same schema of this file
                ignored.append(Problem(file, table.line if table.get("database") else src.line,
                                       f"source {src['name']}.{table['name']}: database {database!r} is not the "
                                       f"target's ({own!r}, its DuckDB file): a dbt project on Kontor reads one "
                                       f"DuckDB file, so the models reading it fail when they run; fix: remove "
                                       f"database: (or name the profile's path {database}.duckdb) and load the "
                                       "table into it"))
                relation = ForeignSource(database, schema, identifier)
            sources[(src["name"], table["name"])] = _external(src, table, schema, file, problems, context) or relation
            decls = _tests(table, None, file)
            for col in table.get("columns") or []:
                if isinstance(col, LineDict) and isinstance(col.get("name"), str):
                    decls += _tests(col, col["name"], file, bool(col.get("quote")))
            source_tests += [(src["name"], table["name"], d) for d in decls]
    for ut in parsed.unit_tests or []:
        unit_tests.append((file, ut))
    for metric in parsed.metrics or []:
        if isinstance(metric, LineDict):
            problems += _legacy_metric(metric, file)


# dbt < 1.6's metrics (``type: count``, ``sql:``, ``model:``), which dbt 1.6 and later refuse
# ("Parsing Error ... Additional properties are not allowed"): Kontor builds nothing from metrics,
# but a project dbt would not run is not run here either.
_LEGACY_METRIC_KEYS = ("model", "sql", "expression", "calculation_method", "timestamp", "time_grains",
                       "dimensions", "window")
_METRIC_TYPES = {"simple", "ratio", "cumulative", "derived", "conversion"}


def _legacy_metric(metric: LineDict, file: str) -> list[Problem]:
    name = metric.get("name", "?")
    fix = ("; fix: declare its measure on a semantic model (semantic_models:) and the metric with "
           "type simple, ratio, cumulative, derived or conversion (dbt's spec since 1.6)")
    legacy = [k for k in _LEGACY_METRIC_KEYS if k in metric]
    if legacy:
        return [Problem(file, metric.key_line(legacy[0]) or metric.line,
                        f"metric {name!r}: {', '.join(repr(k) for k in legacy)} belong to the legacy metrics spec, "
                        f"which dbt (1.6 and later) refuses too{fix}")]
    kind = metric.get("type")
    if isinstance(kind, str) and kind.lower() not in _METRIC_TYPES:
        return [Problem(file, metric.key_line("type") or metric.line,
                        f"metric {name!r}: type {kind!r} is not a metric type of dbt's spec (dbt refuses it too){fix}")]
    return []


class ExternalSource(str):
    """A source dbt-duckdb reads where it lies (``external_location`` in its ``meta:`` or ``config:``):
    ``source()`` renders this text (``read_csv('data/x.csv')``, ``'data/x.parquet'``) as dbt-duckdb does."""

    relation = ""


# A source's config keys dbt itself reads; the others are dbt-duckdb's (``config.extra``).
_SOURCE_CONFIG_KEYS = {"enabled", "meta", "tags", "freshness", "loaded_at_field", "loaded_at_query", "event_time",
                       "docs", "quoting"}


def _external(src: LineDict, table: LineDict, schema: str, file: str, problems: list[Problem],
              context: Mapping[str, Any] | None = None) -> str | None:
    """dbt-duckdb's ``SourceConfig``: the source's, then the table's meta and config keys, merged as
    dbt merges them; ``external_location`` formatted with them (``formatter`` newstyle, oldstyle or
    template) is what ``source()`` renders; ``plugin`` sources are refused."""
    from string import Template

    meta: dict[str, Any] = {}
    for part in (src, table):
        config = part.get("config") if isinstance(part.get("config"), dict) else {}
        for found in (part.get("meta"), config.get("meta")):
            meta.update(found if isinstance(found, dict) else {})
        meta.update({k: v for k, v in config.items() if k not in _SOURCE_CONFIG_KEYS})
    line = getattr(table, "line", None)
    if "plugin" in meta:
        problems.append(Problem(file, line, f"source {src['name']}.{table['name']}: dbt-duckdb plugin "
                                f"{meta['plugin']!r} sources are not supported (Kontor runs no dbt-duckdb "
                                "plugins); fix: load the data into a table (a seed) and read that"))
        return None
    if "external_location" not in meta:
        return None
    template, formatter = str(meta["external_location"]), meta.get("formatter", "newstyle")
    if "{{" in template and context is not None:
        # dbt renders the properties' Jinja first (`{{ env_var('DATA_DIR') }}/{name}.csv`), then
        # dbt-duckdb formats the result
        template = _source_value(template, context, file, line, problems)
        if template is None:
            return None
    values = {"name": table["name"], "identifier": table.get("identifier") or table["name"], "schema": schema,
              "database": None, "tags": list(table.get("tags") or []), **meta}
    try:
        if formatter == "newstyle":
            location = template.format_map(values)
        elif formatter == "oldstyle":
            location = template % values
        elif formatter == "template":
            location = Template(template).substitute(values)
        else:
            problems.append(Problem(file, line, f"source {src['name']}.{table['name']}: formatter {formatter!r} not "
                                    "recognized; use one of newstyle, oldstyle, template (as dbt-duckdb)"))
            return None
    except (KeyError, ValueError, TypeError, IndexError) as exc:
        problems.append(Problem(file, line, f"source {src['name']}.{table['name']}: external_location "
                                f"{template!r} cannot be formatted ({formatter}): {type(exc).__name__}: {exc}"))
        return None
    if "(" not in location and not location.startswith("'"):      # a path: quoted, as dbt-duckdb does
        location = f"'{location}'"
    external = ExternalSource(location)
    external.relation = f"{schema}.{table.get('identifier') or table['name']}"
    return external


def _run_hooks(dbt: DbtProject, problems: list[Problem]) -> dict[str, list[tuple[str, int]]]:
    """``on-run-start``/``on-run-end`` of dbt_project.yml: (statement, line) each, a string or a
    list, run by the model layer's step before its first model and after its last (dbt: at the
    start and end of ``dbt build``). Checked here: Jinja syntax, and on-run-end's ``results``
    (dbt's run results, which Kontor has not got in that form), refused at the line."""
    out: dict[str, list[tuple[str, int]]] = {}
    for key in ("on-run-start", "on-run-end"):
        value = dbt.doc.get(key) if dbt.doc is not None else None
        if not value:
            continue
        line = dbt.doc.key_line(key)
        for text in value if isinstance(value, list) else [value]:
            text = str(text)
            try:
                jinja2.Environment(extensions=["jinja2.ext.do", "jinja2.ext.loopcontrols"]).parse(text)
            except jinja2.TemplateSyntaxError as exc:
                problems.append(Problem(dbt.file, line, f"{key}: Jinja syntax error: {exc.message}"))
                continue
            if key == "on-run-end" and re.search(r"\bresults\b", text):
                problems.append(Problem(dbt.file, line, f"{key} reads `results` (dbt's run results), which Kontor "
                                        "does not give; fix: do without it (`schemas` and `database_schemas` are given)"))
                continue
            out.setdefault(key, []).append((text, line))
    return out


def _docs_blocks(dirs: list[Path]) -> dict[str, str]:
    from pipelines.models.render import _DOCS_BLOCK

    docs = {}
    for d in dirs:
        for path in sorted(d.rglob("*.md")) if d.is_dir() else []:
            for match in _DOCS_BLOCK.finditer(path.read_text(encoding="utf-8")):
                docs[match.group(1)] = match.group(2).strip()
    return docs


def _snapshots(settings: Settings, dbt: DbtProject, problems: list[Problem]) -> list[tuple[str, Path, str, str, int, list[str]]]:
    """``{% snapshot name %} ... {% endsnapshot %}`` blocks: (name, path, rel, body, first line, folders)."""
    found = []
    for d in dbt.dirs("snapshot"):
        for path in sorted(d.rglob("*.sql")) if d.is_dir() else []:
            text, rel = path.read_text(encoding="utf-8"), _rel(settings, path)
            blocks = list(_SNAPSHOT.finditer(text))
            if not blocks:
                problems.append(Problem(rel, None, "a file under snapshot-paths needs a {% snapshot name %} ... "
                                        "{% endsnapshot %} block"))
            for m in blocks:
                line = text.count("\n", 0, m.start(2)) + 1
                found.append((m.group(1), path, rel, m.group(2), line - 1, list(path.relative_to(d).parts[:-1])))
    return found


def load_dbt_models(settings: Settings) -> ModelProject:
    dbt: DbtProject = settings.dbt
    target = settings.dbt_target
    problems: list[Problem] = []
    props: dict[str, dict[str, ModelProperties]] = {"models": {}, "seeds": {}, "snapshots": {}}
    sources: dict[tuple[str, str], str] = {}
    source_tests: list = []
    unit_tests: list = []
    ignored: list[Problem] = []      # what dbt ignores without a word: warnings
    yaml_dirs = dbt.dirs("model") + dbt.dirs("seed") + dbt.dirs("snapshot") + dbt.dirs("macro") + dbt.dirs("test")
    vars_ = project_vars(dbt, settings.env)

    def env_var(name: str, default: str | None = None) -> str:
        if name in settings.env:
            return settings.env[name]
        if default is None:
            raise KeyError(f"env_var({name!r}) is not set and has no default")
        return default

    def var(name: str, default: Any = None) -> Any:
        if name not in vars_ and default is None:
            raise KeyError(f"var({name!r}) is not defined")
        return vars_.get(name, default)
    context = {"target": {"name": target.name, "schema": target.schema, "database": target.path.stem,
                          "type": "duckdb", "profile_name": dbt.profile},
               "env_var": env_var, "var": var}
    for d in yaml_dirs:
        for path in sorted(d.rglob("*.yml")) + sorted(d.rglob("*.yaml")) if d.is_dir() else []:
            _properties(path, _rel(settings, path), props, sources, source_tests, unit_tests, context, problems,
                        ignored)

    run_hooks = _run_hooks(dbt, problems)
    models: dict[str, Model] = {}

    def add(name: str, path: Path, rel: str, raw: str, folders: list[str], kind: str, offset: int = 0) -> None:
        if not _NAME.match(name):
            problems.append(Problem(rel, None, f"model name {name!r} must be a SQL identifier (letters, digits, _)"))
            return
        if name in models:
            problems.append(Problem(rel, None, f"duplicate model name {name!r}, also {models[name].rel_path}"))
            return
        tree = dbt.configs["models" if kind == "model" else "snapshots"]
        config = folder_config(tree, dbt.name, [*folders, name])   # fqn: the name is the last level
        config.setdefault("materialized", "view" if kind == "model" else "snapshot")
        if kind == "snapshot":
            config["materialized"] = "snapshot"
        models[name] = Model(name, target.schema, path, rel, raw, folder_config=config,
                             properties=props["snapshots" if kind == "snapshot" else "models"].get(name, ModelProperties()),
                             folder=folders[0] if folders else "default", resource_type=kind,
                             fqn=[dbt.name, *folders, name], line_offset=offset)

    python_models: dict[str, str] = {}     # refused: their properties and refs are not 'unknown'
    for d in dbt.dirs("model"):
        for path in sorted(d.rglob("*.sql")) if d.is_dir() else []:
            add(path.stem, path, _rel(settings, path), path.read_text(encoding="utf-8"),
                list(path.relative_to(d).parts[:-1]), "model")
        for path in sorted(d.rglob("*.py")) if d.is_dir() else []:
            python_models[path.stem] = _rel(settings, path)
            # at the model function dbt calls (``def model(dbt, session)``), else the file's first line
            lines = path.read_text(encoding="utf-8", errors="replace").splitlines()
            line = next((i for i, text in enumerate(lines, 1) if re.match(r"\s*def\s+model\s*\(", text)), 1)
            problems.append(Problem(_rel(settings, path), line, "Python models are not supported; fix: write the "
                                    "model in SQL"))
    for name, path, rel, body, offset, folders in _snapshots(settings, dbt, problems):
        add(name, path, rel, "\n" * offset + body, folders, "snapshot", offset)
    # Properties of a node the project does not have: dbt warns ("Did not find matching node for
    # patch") and goes on; so does Kontor (a stale entry of a deleted model stopped nothing in dbt).
    warnings: list[Problem] = list(ignored)
    for kind in ("models", "snapshots"):
        for name, p in props[kind].items():
            if name not in models and name not in python_models:
                warnings.append(Problem(p.file, p.line, f"properties for unknown {kind[:-1]} {name!r}"
                                        f"{did_you_mean(name, set(models))} (ignored, as dbt ignores them)"))

    seeds: dict[str, Seed] = {}
    for d in dbt.dirs("seed"):
        for path in sorted(d.rglob("*.csv")) if d.is_dir() else []:
            folders = list(path.relative_to(d).parts[:-1])
            config = folder_config(dbt.configs["seeds"], dbt.name, [*folders, path.stem])
            rel = _rel(settings, path)
            if path.stem in seeds or path.stem in models:
                problems.append(Problem(rel, None, f"duplicate name {path.stem!r}: seeds and models share one namespace"))
                continue
            seeds[path.stem] = Seed(path.stem, path, rel, target.schema, config=config,
                                    properties=props["seeds"].get(path.stem, ModelProperties()),
                                    fqn=[dbt.name, *folders, path.stem])
    for name, p in props["seeds"].items():
        if name not in seeds:
            warnings.append(Problem(p.file, p.line, f"properties for unknown seed {name!r}{did_you_mean(name, set(seeds))} "
                                    "(ignored, as dbt ignores them)"))
    # A package's models, each with its `enabled` config (its own dbt_project.yml, then the root
    # project's `models: <package>:` tree, which wins, as in dbt): refused in compile.py unless
    # every one of them is disabled (elementary's `+enabled: "{{ var('with_elementary', false) }}"`).
    package_models: list[tuple[str, str, Any]] = []
    for package in dbt.packages:
        # A package's on-run hooks (elementary's upload of run results) are its own bookkeeping,
        # which dbt runs and Kontor does not: said, not refused (the root project's run).
        for key in ("on-run-start", "on-run-end"):
            if package.doc is not None and package.doc.get(key):
                warnings.append(Problem(_rel(settings, Path(package.file)), package.doc.key_line(key),
                                        f"{key} hooks of package {package.name!r} are not run (Kontor runs only "
                                        "the project's own); what they would write is not written"))
        for d in package.dirs("model"):
            for path in sorted(d.rglob("*.sql")) if d.is_dir() else []:
                fqn = [*path.relative_to(d).parts[:-1], path.stem]
                config = {**folder_config(package.configs["models"], package.name, fqn),
                          **folder_config(dbt.configs["models"], package.name, fqn)}
                package_models.append((package.name, _rel(settings, Path(package.file)), config.get("enabled", True)))

    macro_files = [p for d in dbt.dirs("macro") for p in (sorted(d.rglob("*.sql")) if d.is_dir() else [])]
    # Generic tests may live under tests/generic/ as {% test %} blocks: macros, not singular tests;
    # tests/fixtures/ holds unit tests' fixture files (pipelines/models/dbt_unit.py).
    singular: list[Path] = []
    for d in dbt.dirs("test"):
        for path in sorted(d.rglob("*.sql")) if d.is_dir() else []:
            folders = path.relative_to(d).parts[:-1]
            if folders[:1] != ("fixtures",):
                (macro_files if "generic" in folders else singular).append(path)
    project = ModelProject(settings.project_dir, models, seeds, macro_files, SourcesProject((), {}), vars_, problems,
                           {}, dbt=dbt, dbt_sources=sources, singular_tests=singular, unit_tests=unit_tests,
                           source_tests=source_tests, refused_models=python_models, run_hooks=run_hooks)
    project.warnings = warnings
    project.package_models = package_models
    for warning in warnings:
        log.warning(str(warning))
    project.target = {"name": target.name, "schema": target.schema, "type": "duckdb", "path": str(target.path),
                      "threads": target.threads or 1, "database": target.path.stem, "profile_name": dbt.profile}
    project.docs = _docs_blocks(dbt.dirs("model") + dbt.dirs("macro") + dbt.dirs("seed"))
    project.package_macros = {p.name: [m for d in p.dirs("macro") for m in (sorted(d.rglob("*.sql")) if d.is_dir() else [])]
                              for p in dbt.packages}
    project.package_vars = {p.name: project_vars(dbt, settings.env, p.name) for p in dbt.packages}
    return project
