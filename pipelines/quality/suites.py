"""Quality rules as files: ``expectations/<schema>.<name>.yml`` gates the asset ``<schema>/<name>``.

A file is a Great Expectations suite written the way GX writes one (``type`` + ``kwargs``), plus
Kontor's ``severity`` (``error`` blocks downstream assets, ``warn`` annotates) and an optional
``name`` (the Dagster check name; derived from type and columns when omitted)::

    description: Outgoing invoices, as the controlling reports read them.
    row_key: [invoice_no]            # optional: how quarantined rows are identified
    expectations:
      - type: expect_column_values_to_be_unique
        kwargs: {column: invoice_no}
      - type: expect_column_values_to_be_between
        kwargs: {column: net_amount, min_value: 0, mostly: 0.99}
        severity: warn
        description: Credit notes are rare.

Loading checks the file's shape only and needs no GX import (``kontor dev`` stays fast); whether
GX accepts each rule, and whether its columns exist, is ``pipelines.quality.checking``'s job.

>>> default_rule_name("expect_column_values_to_be_between", {"column": "net_amount"})
'column_values_to_be_between__net_amount'
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import sqlglot
from sqlglot import exp

from pipelines.core.errors import Problem, ProjectError
from pipelines.core.errors import did_you_mean
from pipelines.core.yamlfile import LineDict, load

SEVERITIES = ("error", "warn")
GX_SEVERITY = {"error": "critical", "warn": "warning"}
SUITE_KEYS = {"description", "row_key", "expectations", "meta"}
RULE_KEYS = {"type", "kwargs", "severity", "description", "name", "meta"}
FILE_NAME = re.compile(r"^(?P<schema>[A-Za-z_][A-Za-z0-9_]*)\.(?P<name>[A-Za-z0-9_]+)\.yml$")
CHECK_NAME = re.compile(r"^[A-Za-z0-9_]+$")  # Dagster's rule for check names


@dataclass(frozen=True)
class Rule:
    """One expectation of a suite, with where it was written."""

    name: str
    type: str
    kwargs: dict[str, Any]
    severity: str                       # error | warn
    description: str | None
    file: str
    line: int
    kwarg_lines: dict[str, int] = field(default_factory=dict, compare=False)
    meta: dict[str, Any] = field(default_factory=dict, compare=False)

    @property
    def blocking(self) -> bool:
        return self.severity == "error"

    def kwarg_line(self, key: str | None) -> int:
        return self.kwarg_lines.get(key, self.line) if key else self.line

    def columns(self) -> list[str]:
        kw = self.kwargs
        cols = kw.get("column_list") or [kw.get("column"), kw.get("column_A"), kw.get("column_B")]
        return [c for c in cols if isinstance(c, str)]


@dataclass(frozen=True)
class Suite:
    """The rules of one asset."""

    asset: str                          # <schema>/<name>, the Dagster asset key as a string
    file: str
    rules: tuple[Rule, ...]
    description: str = ""
    row_key: tuple[str, ...] | None = None
    row_key_line: int = 0

    @property
    def schema(self) -> str:
        return self.asset.split("/")[0]

    @property
    def table(self) -> str:
        return self.asset.split("/")[1]

    @property
    def relation(self) -> str:
        return f"{self.schema}.{self.table}"

    @property
    def name(self) -> str:
        """GX suite name (and the Data Docs path below ``expectations/``)."""
        return self.relation


def default_rule_name(type_: str, kwargs: dict[str, Any]) -> str:
    """``<type without expect_>__<columns>``, reduced to the characters Dagster allows."""
    cols = kwargs.get("column_list") or [kwargs.get(k) for k in ("column", "column_A", "column_B")]
    parts = [type_.removeprefix("expect_"), *(str(c) for c in cols if c)]
    return re.sub(r"[^A-Za-z0-9_]", "_", "__".join(parts))


def referenced_relations(rule: Rule, own_relation: str) -> list[str]:
    """Other relations an ``unexpected_rows_query`` reads (``schema.name``): the check's extra deps.

    >>> r = Rule("x", "unexpected_rows_expectation", {"unexpected_rows_query":
    ...     "select * from {batch} b where b.k not in (select k from staging.d)"}, "error", None, "f", 1)
    >>> referenced_relations(r, "marts.f")
    ['staging.d']
    """
    query = rule.kwargs.get("unexpected_rows_query")
    if rule.type != "unexpected_rows_expectation" or not isinstance(query, str):
        return []
    try:   # GX substitutes {batch} with str.format ({{ is a literal brace)
        tree = sqlglot.parse_one(query.format(batch=own_relation), dialect="duckdb")
    except (sqlglot.errors.ParseError, KeyError, IndexError, ValueError):
        return []   # kontor check reports GX's or DuckDB's own message for it
    ctes = {cte.alias_or_name for cte in tree.find_all(exp.CTE)}
    found = []
    for t in tree.find_all(exp.Table):
        name = f"{t.db}.{t.name}" if t.db else t.name
        if t.db and name != own_relation and t.name not in ctes and name not in found:
            found.append(name)
    return found


def expectations_dir(project_dir: Path) -> Path:
    return project_dir / "expectations"


def load_suites(directory: Path, display=lambda p: str(p)) -> tuple[list[Suite], list[Problem]]:
    """Every ``*.yml`` in ``directory`` (sorted); problems instead of exceptions, like a compiler."""
    suites, problems = [], []
    if not directory.is_dir():
        return suites, problems
    for path in sorted(directory.iterdir()):
        if path.suffix == ".yaml":
            problems.append(Problem(display(path), None, "expectation files end in .yml; fix: rename it"))
        if path.suffix != ".yml":
            continue
        try:
            suite, found = _load_suite(path, display(path))
        except ProjectError as exc:
            problems += exc.problems
            continue
        problems += found
        if suite is not None:
            suites.append(suite)
    return suites, problems


def load_suites_or_raise(directory: Path, display=lambda p: str(p)) -> list[Suite]:
    suites, problems = load_suites(directory, display)
    if problems:
        raise ProjectError(problems)
    return suites


def _load_suite(path: Path, shown: str) -> tuple[Suite | None, list[Problem]]:
    problems: list[Problem] = []
    m = FILE_NAME.match(path.name)
    if not m:
        return None, [Problem(shown, None, "an expectation file is named <schema>.<name>.yml after the asset "
                                           "<schema>/<name>; fix: rename it, e.g. marts.fct_invoices.yml")]
    doc = load(path, shown)
    if doc is None:
        doc = LineDict()
        doc.line, doc.key_lines = 1, {}
    if not isinstance(doc, LineDict):
        return None, [Problem(shown, getattr(doc, "line", 1) or 1, "expected a mapping with 'expectations:'")]
    for key in doc:
        if key not in SUITE_KEYS:
            problems.append(Problem(shown, doc.key_line(key), f"unknown key {key!r}{did_you_mean(str(key), SUITE_KEYS)}"))
    raw_rules = doc.get("expectations")
    if not isinstance(raw_rules, list) or not raw_rules:
        problems.append(Problem(shown, doc.key_line("expectations") or 1,
                                "'expectations:' must be a non-empty list of {type, kwargs, severity}"))
        raw_rules = []
    row_key = doc.get("row_key")
    if row_key is not None:
        row_key = [row_key] if isinstance(row_key, str) else row_key
        if not isinstance(row_key, list) or not row_key or not all(isinstance(c, str) for c in row_key):
            problems.append(Problem(shown, doc.key_line("row_key"), "row_key is a column name or a list of column names"))
            row_key = None
    rules, seen = [], {}
    for raw in raw_rules:
        rule = _load_rule(raw, shown, problems)
        if rule is None:
            continue
        if rule.name in seen:   # still kept, so its arguments are checked too
            problems.append(Problem(shown, rule.line, f"check name {rule.name!r} is used twice (first at line "
                                                      f"{seen[rule.name]}); fix: give one of them its own 'name:'"))
        seen.setdefault(rule.name, rule.line)
        rules.append(rule)
    suite = Suite(asset=f"{m['schema']}/{m['name']}", file=shown, rules=tuple(rules),
                  description=str(doc.get("description") or ""),
                  row_key=tuple(row_key) if row_key else None, row_key_line=doc.key_line("row_key"))
    return suite, problems


def _load_rule(raw: Any, shown: str, problems: list[Problem]) -> Rule | None:
    line = getattr(raw, "line", 0) or None
    if not isinstance(raw, LineDict):
        problems.append(Problem(shown, line, "each expectation is a mapping with 'type:' and 'kwargs:'"))
        return None
    before = len(problems)
    for key in raw:
        if key not in RULE_KEYS:
            hint = did_you_mean(str(key), RULE_KEYS) or "; fix: an expectation's arguments go under 'kwargs:'"
            problems.append(Problem(shown, raw.key_line(key), f"unknown key {key!r}{hint}"))
    type_ = raw.get("type")
    if not isinstance(type_, str) or not type_:
        problems.append(Problem(shown, raw.line, "missing 'type:' (a Great Expectations expectation type, "
                                                 "e.g. expect_column_values_to_not_be_null)"))
    kwargs = raw.get("kwargs", {})
    if not isinstance(kwargs, dict):
        problems.append(Problem(shown, raw.key_line("kwargs"), "'kwargs:' must be a mapping of argument: value"))
        kwargs = {}
    for key, value in kwargs.items():
        if isinstance(value, dict) and "$PARAMETER" in value:
            problems.append(Problem(shown, kwargs.key_line(key) if isinstance(kwargs, LineDict) else raw.line,
                                    f"{key}: suite parameters ($PARAMETER) are not supported; fix: write the value"))
    severity = raw.get("severity", "error")
    if severity not in SEVERITIES:
        problems.append(Problem(shown, raw.key_line("severity"),
                                f"severity must be 'error' (blocks downstream assets) or 'warn' (annotates), not {severity!r}"))
    name = raw.get("name")
    if name is not None and (not isinstance(name, str) or not CHECK_NAME.match(name)):
        problems.append(Problem(shown, raw.key_line("name"), f"name {name!r} may only contain letters, digits and _"))
    if len(problems) > before:
        return None
    if name is None and type_ == "unexpected_rows_expectation":
        problems.append(Problem(shown, raw.line, "an unexpected_rows_expectation needs a 'name:' (it has no column to name it by)"))
        return None
    kwarg_lines = kwargs.key_lines if isinstance(kwargs, LineDict) else {}
    meta = raw.get("meta") or {}
    return Rule(name=name or default_rule_name(type_, kwargs), type=type_, kwargs=_plain(kwargs),
                severity=severity, description=raw.get("description"), file=shown, line=raw.line,
                kwarg_lines=dict(kwarg_lines), meta=_plain(meta) if isinstance(meta, dict) else {})


def _plain(value: Any) -> Any:
    """LineDict/LineList back to dict/list: GX copies and serialises kwargs."""
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value
