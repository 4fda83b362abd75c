"""dbt's ``unit_tests:``: a model's SQL run on given input rows, its output compared with expected rows.

As in dbt: each ``given`` input (``ref('x')`` or ``source('s', 't')``) becomes a CTE of its rows,
columns not given are NULL, and every value is cast to the input relation's column type (read
from the warehouse when the test runs, so the inputs are built first); the model's result,
restricted to the expected rows' columns, must equal the expected rows as a multiset. Rows come
as ``dict`` (default), ``csv`` or ``sql``; ``overrides`` may set ``vars`` and ``is_incremental``.
A unit test is a blocking check of its model: a failure stops what is downstream.
"""
from __future__ import annotations

import csv
import io
import re
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import duckdb
from sqlglot import exp

from pipelines.core.errors import KontorError, Problem
from pipelines.models.compile import CompiledProject, _node
from pipelines.models.render import Relation
from pipelines.core.errors import did_you_mean
from pipelines.core.sql import ident

_INPUT = re.compile(r"^\s*(ref|source)\s*\((.*)\)\s*$")
UNIT_KEYS = {"name", "model", "given", "expect", "description", "overrides", "config", "versions"}


@dataclass
class Given:
    relation: str                # the relation the model reads, replaced by the rows
    placeholder: str             # the CTE that stands for it
    rows: list[dict[str, Any]] | None
    sql: str | None = None


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


def _rows(entry: dict, file: str, line: int) -> tuple[list[dict] | None, str | None]:
    fmt = entry.get("format", "dict")
    rows = entry.get("rows")
    if fmt == "dict":
        return [dict(r) for r in rows or []], None
    if fmt == "csv":
        return [dict(r) for r in csv.DictReader(io.StringIO(str(rows or "").strip()))], None
    if fmt == "sql":
        return None, str(rows)
    raise KontorError(f"{file}:{line}: unit test rows format {fmt!r}; use dict, csv or sql")


def collect_unit_tests(compiled: CompiledProject) -> tuple[list[UnitTest], list[Problem]]:
    tests, problems = [], []
    renderer = compiled.renderer
    for file, raw in compiled.project.unit_tests:
        line = getattr(raw, "line", None)
        try:
            for key in raw:
                if key not in UNIT_KEYS:
                    raise KontorError(f"{file}:{raw.key_line(key)}: unknown key {key!r} in a unit test{did_you_mean(str(key), UNIT_KEYS)}")
            model = raw.get("model")
            if model not in compiled.models:
                raise KontorError(f"{file}:{line}: unit test {raw.get('name')!r} is for unknown model {model!r}"
                                  f"{did_you_mean(str(model), set(compiled.models))}")
            overrides = dict(raw.get("overrides") or {})
            macros = dict(overrides.get("macros") or {})
            unknown = set(macros) - {"is_incremental"}
            if unknown or set(overrides) - {"vars", "macros"}:
                raise KontorError(f"{file}:{line}: unit test overrides other than vars and macros.is_incremental "
                                  f"are not supported ({', '.join(sorted(unknown | (set(overrides) - {'vars', 'macros'})))})")
            given = []
            for i, g in enumerate(raw.get("given") or []):
                m = _INPUT.match(str(g.get("input", "")))
                if not m:
                    raise KontorError(f"{file}:{getattr(g, 'line', line)}: a given input is ref('model') or source('s', 't')")
                rendered = renderer.render("{{ " + g["input"] + " }}", file, "")
                if rendered.problems:
                    raise KontorError(str(rendered.problems[0]))
                rows, sql = _rows(g, file, getattr(g, "line", line))
                given.append(Given(rendered.sql.strip(), f"__dbt_unit_input_{i}", rows, sql))
            expect_rows, expect_sql = _rows(raw.get("expect") or {}, file, line)
            cm = compiled.models[model]
            tests.append(UnitTest(str(raw["name"]), model, f"{cm.model.schema}/{cm.model.name}", file, line or 0,
                                  given, expect_rows, expect_sql, overrides))
        except KontorError as exc:
            problems.append(Problem(file, line, str(exc).split(": ", 1)[-1] if str(exc).startswith(file) else str(exc)))
    return tests, problems


def _typed_rows(con: duckdb.DuckDBPyConnection, rows: list[dict], types: list[tuple[str, str]]) -> str:
    """The rows as a SELECT whose columns are exactly ``types``: values cast, missing ones NULL."""
    if not rows:
        return "select " + ", ".join(f"cast(null as {t}) as {ident(c)}" for c, t in types) + " where false"
    selects = []
    lowered = {c.lower(): (c, t) for c, t in types}
    for row in rows:
        given = {str(k).lower(): v for k, v in row.items()}
        unknown = set(given) - set(lowered)
        if unknown:
            raise KontorError(f"columns {sorted(unknown)} are not in the input (it has {[c for c, _ in types]})")
        cols = [f"cast({exp.convert(given[c.lower()]).sql('duckdb') if c.lower() in given else 'null'} as {t}) as {ident(c)}"
                for c, t in types]
        selects.append("select " + ", ".join(cols))
    return "\nunion all\n".join(selects)


def _relation_types(con: duckdb.DuckDBPyConnection, relation: str) -> list[tuple[str, str]]:
    rel = Relation.parse(relation)
    return [(r[0], r[1]) for r in con.execute(
        "select column_name, data_type from information_schema.columns where table_schema = ? and table_name = ? "
        "order by ordinal_position", [rel.schema or "main", rel.identifier]).fetchall()]


def run_unit_test(con: duckdb.DuckDBPyConnection, compiled: CompiledProject, test: UnitTest) -> tuple[bool, str]:
    """(passed, what differs)."""
    cm = compiled.models[test.model]
    renderer = compiled.renderer
    saved_vars, saved_rel, saved_src = dict(renderer.vars), dict(renderer.relations), dict(renderer.source_relations)
    try:
        renderer.vars.update((test.overrides.get("vars") or {}))
        swap = {g.relation: g.placeholder for g in test.given}
        renderer.relations = {k: swap.get(str(Relation.parse(v)), v) if isinstance(v, str) else v for k, v in saved_rel.items()}
        renderer.source_relations = {k: swap.get(str(Relation.parse(v)), v) for k, v in saved_src.items()}
        incremental = bool((test.overrides.get("macros") or {}).get("is_incremental", False))
        renderer.con = con
        rendered = renderer.render(cm.model.raw_sql, cm.model.rel_path, cm.model.relation, is_incremental=incremental,
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
        ctes.append(f"{ident(g.placeholder)} as ({body})")
    model_sql = rendered.sql.strip().rstrip(";")
    actual_sql = (f"with {', '.join(ctes)} " if ctes else "") + f"select * from ({model_sql}) __dbt_unit_model"
    out_types = [(d[0], d[1]) for d in con.execute(f"describe {actual_sql}").fetchall()]
    if test.expect_sql is not None:
        expected_sql = test.expect_sql
        columns = [d[0] for d in con.execute(f"describe {expected_sql}").fetchall()]
    else:
        columns = list(dict.fromkeys(str(k) for r in test.expect or [] for k in r)) or [c for c, _ in out_types]
        by_name = {c.lower(): (c, t) for c, t in out_types}
        missing = [c for c in columns if c.lower() not in by_name]
        if missing:
            return False, f"expected columns {missing} are not produced by {test.model}"
        expected_sql = _typed_rows(con, test.expect or [], [by_name[c.lower()] for c in columns])
    cols = ", ".join(ident(c) for c in columns)
    actual = Counter(con.execute(f"select {cols} from ({actual_sql})").fetchall())
    expected = Counter(con.execute(f"select {cols} from ({expected_sql})").fetchall())
    if actual == expected:
        return True, f"{sum(actual.values())} rows as expected"
    missing, extra = expected - actual, actual - expected
    return False, (f"expected rows missing: {sorted(map(repr, missing.elements()))[:5]}; "
                   f"unexpected rows: {sorted(map(repr, extra.elements()))[:5]} (columns {columns})")
