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
from typing import Any, ClassVar, Literal

import sqlglot
from pydantic import Field, field_validator, model_validator
from sqlglot import exp

from pipelines.core.errors import Problem, ProjectError
from pipelines.core.spec import Mapping, Spec, SpecError, plain, validate
from pipelines.core.yamlfile import load

SEVERITIES = ("error", "warn")
GX_SEVERITY = {"error": "critical", "warn": "warning"}
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


class RuleSpec(Spec):
    """One item of ``expectations:`` as written."""

    what: ClassVar[str] = "expectation"
    shape: ClassVar[str] = "a mapping with 'type:' and 'kwargs:'"
    unknown_hint: ClassVar[str] = "; fix: an expectation's arguments go under 'kwargs:'"
    all_or_nothing: ClassVar[bool] = True   # a rule with a problem is not judged further

    type: str = Field(min_length=1, description="a Great Expectations expectation type, "
                                                "e.g. expect_column_values_to_not_be_null")
    kwargs: Mapping = Field(default_factory=dict, description="a mapping of argument: value")
    severity: Literal["error", "warn"] = Field("error", description="'error' (blocks downstream assets) or "
                                                                    "'warn' (annotates)")
    description: str | None = None
    name: str | None = None
    meta: Mapping = Field(default_factory=dict)

    @field_validator("name")
    @classmethod
    def _check_name(cls, name: str | None) -> str | None:
        if name is not None and not CHECK_NAME.match(name):
            raise ValueError(f"name {name!r} may only contain letters, digits and _")
        return name

    @model_validator(mode="after")
    def _written_values(self) -> RuleSpec:
        for key, value in self.kwargs.items():
            if isinstance(value, dict) and "$PARAMETER" in value:
                raise SpecError(f"{key}: suite parameters ($PARAMETER) are not supported; fix: write the value",
                                self.kwargs.key_line(key) if hasattr(self.kwargs, "key_line") else None)
        if self.name is None and self.type == "unexpected_rows_expectation":
            raise SpecError("an unexpected_rows_expectation needs a 'name:' (it has no column to name it by)")
        return self

    def rule(self, file: str) -> Rule:
        return Rule(name=self.name or default_rule_name(self.type, self.kwargs), type=self.type,
                    kwargs=plain(self.kwargs), severity=self.severity, description=self.description,
                    file=file, line=self.line, kwarg_lines=dict(getattr(self.kwargs, "key_lines", {})),
                    meta=plain(self.meta))


class SuiteSpec(Spec):
    """An expectation file as written."""

    what: ClassVar[str] = "expectation file"
    shape: ClassVar[str] = "a mapping with 'expectations:'"

    description: str | None = None
    row_key: list[str] | None = None
    expectations: list[RuleSpec] = Field(None, validate_default=True)
    meta: Mapping = Field(default_factory=dict)

    @field_validator("row_key", mode="before")
    @classmethod
    def _one_or_more_columns(cls, value: Any) -> Any:
        value = [value] if isinstance(value, str) else value
        if value is not None and (not isinstance(value, list) or not value or not all(isinstance(c, str) for c in value)):
            raise ValueError("row_key is a column name or a list of column names")
        return value

    @field_validator("expectations", mode="before")
    @classmethod
    def _non_empty(cls, value: Any) -> Any:
        if not isinstance(value, list) or not value:
            raise ValueError("'expectations:' must be a non-empty list of {type, kwargs, severity}")
        return value

    def problems(self):
        seen: dict[str, int] = {}
        for spec in self.expectations:   # a name used twice: both rules are still judged
            name = spec.name or default_rule_name(spec.type, spec.kwargs)
            if name in seen:
                yield spec.line, (f"check name {name!r} is used twice (first at line {seen[name]}); "
                                  "fix: give one of them its own 'name:'")
            seen.setdefault(name, spec.line)


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
    m = FILE_NAME.match(path.name)
    if not m:
        return None, [Problem(shown, None, "an expectation file is named <schema>.<name>.yml after the asset "
                                           "<schema>/<name>; fix: rename it, e.g. marts.fct_invoices.yml")]
    spec, problems = validate(SuiteSpec, load(path, shown), shown)
    if spec is None:
        return None, problems
    suite = Suite(asset=f"{m['schema']}/{m['name']}", file=shown, rules=tuple(r.rule(shown) for r in spec.expectations),
                  description=spec.description or "", row_key=tuple(spec.row_key) if spec.row_key else None,
                  row_key_line=spec.key_line("row_key"))
    return suite, problems
