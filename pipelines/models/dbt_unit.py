"""dbt's ``unit_tests:``: a model's SQL run on given input rows, its output compared with expected rows.

As in dbt: each ``given`` input (``ref('x')``, ``source('s', 't')``, or ``this`` for an
incremental model's existing rows) becomes a CTE of its rows, columns not given are NULL, and
every value is cast to the input relation's column type (read from the warehouse when the test
runs, so the inputs are built first); the model's result, restricted to the expected rows'
columns, must equal the expected rows as a multiset. Rows come as ``dict`` (default), ``csv`` or
``sql``, inline (``rows:``) or from a fixture file (``fixture: name`` reads
``<test-path>/fixtures/**/name.csv`` or ``.sql``). ``overrides`` sets ``vars``, ``env_vars``
and ``macros`` (``is_incremental``, or any macro by name or ``package.name``, which then returns
the given value). ``config`` may say ``enabled``, ``tags`` and ``meta``. What else a test says
(``versions``, other config) is refused at its line. A unit test is a blocking check of its
model: a failure stops what is downstream.
"""
from __future__ import annotations

import csv
import io
import re
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlglot import exp

from pipelines.core.errors import KontorError, Problem
from pipelines.engines.connection import Connection
from pipelines.models.compile import CompiledProject, _node
from pipelines.models.render import Relation
from pipelines.core.errors import did_you_mean
from pipelines.core.sql import data_type, render, template, verbatim

_INPUT = re.compile(r"^\s*(ref|source)\s*\((.*)\)\s*$")
UNIT_KEYS = {"name", "model", "given", "expect", "description", "overrides", "config"}
ROW_KEYS = {"input", "rows", "format", "fixture"}
OVERRIDE_KEYS = {"vars", "macros", "env_vars"}
CONFIG_KEYS = {"enabled", "tags", "meta"}
FORMATS = {"dict", "csv", "sql"}


@dataclass
class Given:
    relation: str                # the relation the model reads, replaced by the rows
    placeholder: str             # the CTE that stands for it
    rows: list[dict[str, Any]] | None
    sql: str | None = None
    this: bool = False           # the incremental model's own existing rows (input: this)


@dataclass
class UnitTest:
    name: str
    model: str
    asset: str
    file: str
    line: int
    given: list[Given]
    expect: list[dict[str, Any]] | None
    expect_sql: str | None = None
    overrides: dict[str, Any] = field(default_factory=dict)


def _line(node: Any, key: str | None, default: int | None) -> int | None:
    if key is not None and hasattr(node, "key_line"):
        return node.key_line(key) or default
    return getattr(node, "line", None) or default


def _fixture(name: str, fmt: str, dirs: list[Path], file: str, line: int | None) -> str:
    """dbt's fixture files: ``<test-path>/fixtures/**/<name>.csv`` (or ``.sql`` for format sql)."""
    suffix = ".sql" if fmt == "sql" else ".csv"
    found = [p for d in dirs for p in sorted((d / "fixtures").rglob(f"{name}{suffix}")) if (d / "fixtures").is_dir()]
    if not found:
        raise KontorError(f"{file}:{line}: fixture {name!r}: no {name}{suffix} under "
                          f"{', '.join(str(d.name) + '/fixtures/' for d in dirs) or 'tests/fixtures/'}; "
                          f"fix: add the file or give the rows inline (rows:)")
    if len(found) > 1:
        raise KontorError(f"{file}:{line}: fixture {name!r} is ambiguous: {', '.join(map(str, found))}")
    return found[0].read_text(encoding="utf-8")


def _rows(entry: Any, file: str, line: int | None, fixture_dirs: list[Path]) -> tuple[list[dict] | None, str | None]:
    for key in entry:
        if key not in ROW_KEYS:
            raise KontorError(f"{file}:{_line(entry, key, line)}: unknown key {key!r} in a unit test's given/expect"
                              f"{did_you_mean(str(key), ROW_KEYS)}")
    fmt = entry.get("format", "dict")
    if fmt not in FORMATS:
        raise KontorError(f"{file}:{_line(entry, 'format', line)}: unit test rows format {fmt!r}; use dict, csv or sql")
    if "fixture" in entry:
        if "rows" in entry:
            raise KontorError(f"{file}:{_line(entry, 'fixture', line)}: give rows or a fixture, not both")
        if fmt == "dict":
            raise KontorError(f"{file}:{_line(entry, 'fixture', line)}: a fixture file is csv or sql; "
                              "fix: add format: csv (or sql)")
        rows: Any = _fixture(str(entry["fixture"]), fmt, fixture_dirs, file, _line(entry, "fixture", line))
    else:
        rows = entry.get("rows")
    if fmt == "dict":
        if rows is not None and not (isinstance(rows, list) and all(isinstance(r, dict) for r in rows)):
            raise KontorError(f"{file}:{_line(entry, 'rows', line)}: format dict: rows is a list of mappings "
                              "(- {column: value}); for text rows say format: csv")
        return [dict(r) for r in rows or []], None
    if fmt == "csv":
        return [dict(r) for r in csv.DictReader(io.StringIO(str(rows or "").strip()))], None
    return None, str(rows)


def _overrides(raw: Any, file: str, line: int | None) -> dict[str, dict]:
    overrides = raw.get("overrides") or {}
    where = _line(raw, "overrides", line)
    if not isinstance(overrides, dict):
        raise KontorError(f"{file}:{where}: overrides is a mapping of vars, macros and env_vars")
    for key in overrides:
        if key not in OVERRIDE_KEYS:
            raise KontorError(f"{file}:{_line(overrides, key, where)}: unknown unit test override {key!r}; "
                              f"dbt overrides vars, macros and env_vars{did_you_mean(str(key), OVERRIDE_KEYS)}")
    out = {}
    for key in OVERRIDE_KEYS:
        value = overrides.get(key) or {}
        if not isinstance(value, dict):
            raise KontorError(f"{file}:{_line(overrides, key, where)}: overrides.{key} is a mapping (name: value)")
        out[key] = dict(value)
    return out


def collect_unit_tests(compiled: CompiledProject) -> tuple[list[UnitTest], list[Problem]]:
    tests, problems = [], []
    renderer = compiled.renderer
    project = compiled.project
    fixture_dirs = project.dbt.dirs("test") if project.dbt is not None else [project.root / "tests"]
    for file, raw in project.unit_tests:
        line = getattr(raw, "line", None)
        try:
            for key in raw:
                if key == "versions":
                    raise KontorError(f"{file}:{raw.key_line(key)}: unit tests of model versions are not supported "
                                      "(Kontor has no versioned models); fix: remove versions:")
                if key not in UNIT_KEYS:
                    raise KontorError(f"{file}:{raw.key_line(key)}: unknown key {key!r} in a unit test{did_you_mean(str(key), UNIT_KEYS)}")
            config = raw.get("config") or {}
            for key in config:
                if key not in CONFIG_KEYS:
                    raise KontorError(f"{file}:{_line(config, key, line)}: unit test config {key!r} is not supported; "
                                      f"it may say {', '.join(sorted(CONFIG_KEYS))}")
            if config.get("enabled") is False:
                continue
            model = raw.get("model")
            if model not in compiled.models:
                raise KontorError(f"{file}:{line}: unit test {raw.get('name')!r} is for unknown model {model!r}"
                                  f"{did_you_mean(str(model), set(compiled.models))}")
            cm = compiled.models[model]
            overrides = _overrides(raw, file, line)
            macros = overrides["macros"]
            for name in macros:
                known = name == "is_incremental" or (
                    name.rpartition(".")[2] in renderer.namespaces.get(name.rpartition(".")[0], {}) if "." in name
                    else any(name in ns for ns in renderer.namespaces.values()) or name in renderer.env.globals)
                if not known:
                    raise KontorError(f"{file}:{_line(raw, 'overrides', line)}: overrides.macros: "
                                      f"no macro {name!r} to override")
            given = []
            for i, g in enumerate(raw.get("given") or []):
                g_line = _line(g, None, line)
                text = str(g.get("input", "")).strip()
                if text == "this":
                    if cm.materialized != "incremental":
                        raise KontorError(f"{file}:{g_line}: input: this is the existing table of an incremental model; "
                                          f"{model} is {cm.materialized}")
                    relation = cm.model.relation
                else:
                    if not _INPUT.match(text):
                        raise KontorError(f"{file}:{g_line}: a given input is ref('model'), source('s', 't') or this")
                    rendered = renderer.render("{{ " + text + " }}", file, "")
                    if rendered.problems:
                        raise KontorError(str(rendered.problems[0]))
                    relation = rendered.sql.strip()
                rows, sql = _rows(g, file, g_line, fixture_dirs)
                given.append(Given(relation, f"__dbt_unit_input_{i}", rows, sql, this=text == "this"))
            expect_rows, expect_sql = _rows(raw.get("expect") or {}, file, _line(raw, "expect", line), fixture_dirs)
            tests.append(UnitTest(str(raw["name"]), model, f"{cm.model.schema}/{cm.model.name}", file, line or 0,
                                  given, expect_rows, expect_sql, overrides))
        except KontorError as exc:
            found = re.match(rf"{re.escape(file)}:(\d+|None): (.*)", str(exc), re.S)
            problems.append(Problem(file, int(found.group(1)) if found and found.group(1).isdigit() else line,
                                    found.group(2) if found else str(exc)))
    return tests, problems


def _typed_rows(con: Connection, rows: list[dict], types: list[tuple[str, str]]) -> str:
    """The rows as a SELECT whose columns are exactly ``types``: values cast, missing ones NULL."""
    if not rows:
        return exp.select(*(_typed(exp.null(), c, t) for c, t in types)).where(exp.false()).sql(dialect="duckdb")
    selects = []
    lowered = {c.lower(): (c, t) for c, t in types}
    for row in rows:
        given = {str(k).lower(): v for k, v in row.items()}
        unknown = set(given) - set(lowered)
        if unknown:
            raise KontorError(f"columns {sorted(unknown)} are not in the input (it has {[c for c, _ in types]})")
        selects.append(exp.select(*(_typed(exp.convert(given[c.lower()]) if c.lower() in given else exp.null(), c, t)
                                    for c, t in types)))
    union = selects[0]
    for select in selects[1:]:
        union = exp.union(union, select, distinct=False)
    return union.sql(dialect="duckdb")


def _typed(value: exp.Expression, column: str, typ: str) -> exp.Expression:
    """``cast(value as typ) as "column"``"""
    return exp.alias_(exp.cast(value, data_type(typ)), column, quoted=True)


def _describe(con: Connection, query: exp.Expression) -> list[tuple]:
    return con.execute(render(template(__file__, "describe"), relation=exp.paren(query, copy=False))).fetchall()


def _relation_types(con: Connection, relation: str) -> list[tuple[str, str]]:
    rel = Relation.parse(relation)
    return [(r[0], r[1]) for r in con.execute(template(__file__, "relation_columns"),
                                              [rel.schema or "main", rel.identifier]).fetchall()]


def run_unit_test(con: Connection, compiled: CompiledProject, test: UnitTest) -> tuple[bool, str]:
    """(passed, what differs)."""
    cm = compiled.models[test.model]
    renderer = compiled.renderer
    saved_vars, saved_rel, saved_src = dict(renderer.vars), dict(renderer.relations), dict(renderer.source_relations)
    macros = dict(test.overrides.get("macros") or {})
    incremental = bool(macros.pop("is_incremental", False))
    this = next((g.placeholder for g in test.given if g.this), cm.model.relation)
    try:
        renderer.vars.update((test.overrides.get("vars") or {}))
        swap = {g.relation: g.placeholder for g in test.given if not g.this}
        renderer.relations = {k: swap.get(str(Relation.parse(v)), v) if isinstance(v, str) else v for k, v in saved_rel.items()}
        renderer.source_relations = {k: swap.get(str(Relation.parse(v)), v) for k, v in saved_src.items()}
        renderer.con = con
        with renderer.overriding(macros, test.overrides.get("env_vars") or {}):
            rendered = renderer.render(cm.model.raw_sql, cm.model.rel_path, this, is_incremental=incremental,
                                       node=_node(cm.model))
    finally:
        renderer.vars.clear()
        renderer.vars.update(saved_vars)
        renderer.relations, renderer.source_relations, renderer.con = saved_rel, saved_src, None
    if rendered.problems:
        return False, "; ".join(str(p) for p in rendered.problems)
    ctes = []
    for g in test.given:
        body = g.sql if g.sql is not None else _typed_rows(con, g.rows or [], _relation_types(con, g.relation))
        ctes.append(exp.CTE(this=verbatim(body), alias=exp.TableAlias(this=exp.to_identifier(g.placeholder, quoted=True))))
    model_sql = rendered.sql.strip().rstrip(";")
    actual = exp.select("*").from_(exp.Subquery(this=verbatim(model_sql),
                                                alias=exp.TableAlias(this=exp.to_identifier("__dbt_unit_model"))))
    if ctes:
        actual.set("with_", exp.With(expressions=ctes))
    out_types = [(d[0], d[1]) for d in _describe(con, actual)]
    if test.expect_sql is not None:
        expected_sql = test.expect_sql
        columns = [d[0] for d in _describe(con, verbatim(expected_sql))]
    else:
        columns = list(dict.fromkeys(str(k) for r in test.expect or [] for k in r)) or [c for c, _ in out_types]
        by_name = {c.lower(): (c, t) for c, t in out_types}
        missing = [c for c in columns if c.lower() not in by_name]
        if missing:
            return False, f"expected columns {missing} are not produced by {test.model}"
        expected_sql = _typed_rows(con, test.expect or [], [by_name[c.lower()] for c in columns])
    def rows(query: exp.Expression) -> Counter:
        return Counter(con.execute(exp.select(*(exp.column(c, quoted=True) for c in columns))
                                   .from_(exp.Subquery(this=query)).sql(dialect="duckdb")).fetchall())
    actual, expected = rows(actual), rows(verbatim(expected_sql))
    if actual == expected:
        return True, f"{sum(actual.values())} rows as expected"
    missing, extra = expected - actual, actual - expected
    return False, (f"expected rows missing: {sorted(map(repr, missing.elements()))[:5]}; "
                   f"unexpected rows: {sorted(map(repr, extra.elements()))[:5]} (columns {columns})")
