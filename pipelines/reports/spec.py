"""``reports/<name>/report.yml``: pydantic models of what a report computes, read by the one loader.

A report is a folder (Evidence's idea): ``report.yml`` (KPIs, dimensions, comparisons, anomaly
rules, narrative and delivery settings), the KPI and table SQL files it names, a Jinja template
and optionally a plan CSV. The YAML declares data; the template decides the layout.

The ``*Yml`` models are ``report.yml`` as written, validated by ``pipelines.core.spec`` (every
problem at its line, unknown keys with did-you-mean); ``load_report`` then checks what the file
names in the folder (SQL files, plan, template, which dimensions carry names) and builds the
frozen dataclasses the engine reads (``ReportSpec``, ``Kpi``, ``TableSpec`` ...).

>>> localized({"de": "Umsatz", "en": "Revenue"}, "en"), localized("Umsatz", "en")
('Revenue', 'Umsatz')
"""
from __future__ import annotations

import csv
import re
from dataclasses import dataclass, field, replace
from pathlib import Path, PurePosixPath
from typing import Any, ClassVar

import sqlglot
from pydantic import Field, field_validator
from sqlglot import exp

from pipelines.core import parsed

from pipelines.core import yamlfile
from pipelines.core.errors import Problem, ProjectError, did_you_mean
from pipelines.core.spec import Spec, validate

GRAINS = ("day", "week", "month", "quarter")
FIRST_PERIOD_DEFAULT = "2020-01-01"   # reports' partitions start with the period holding this day, unless first_period
CALENDARS = ("calendar", "business_days")
COMPARISONS = ("previous_period", "same_period_last_year", "plan")
LANGUAGES = ("de", "en")
UNITS = ("EUR", "%", "count", "days", "number")
GOOD = ("up", "down", "neutral")
KINDS = ("periodic", "snapshot")
NAME = re.compile(r"^[a-z][a-z0-9_]*$")
_CRON_FIELD = re.compile(r"^(\*|\d+(-\d+)?)(/\d+)?(,(\*|\d+(-\d+)?)(/\d+)?)*$")


def localized(text: Any, language: str) -> str:
    """A text written as a plain string or as ``{de: ..., en: ...}``, in ``language``."""
    if isinstance(text, dict):
        return str(text.get(language) or next(iter(text.values()), ""))
    return "" if text is None else str(text)


@dataclass(frozen=True)
class Anomalies:
    threshold_pct: float = 10.0     # |delta %| against a comparison at or above this is an anomaly
    zscore: float = 3.0             # |z| against the KPI's own history at or above this is an anomaly
    history: int = 12               # periods of history for z-scores (and charts)
    min_share_pct: float = 1.0      # driver members smaller than this share are not checked
    min_history: int = 6            # fewer past values than this: no z-score


@dataclass(frozen=True)
class Narrative:
    enabled: bool = True
    model: str | None = None
    timeout_s: float = 30.0
    allow_personal_data: bool = False
    max_words: int = 180


@dataclass(frozen=True)
class Dimension:
    name: str
    label: Any
    personal: bool = True           # members may name persons: pseudonymised in LLM prompts
    sources: tuple[str, ...] = ()   # the warehouse columns its values come from (privacy.trace)
    values: Any = None              # labels of coded values: {customer: {de: Kunden, en: customers}}


@dataclass(frozen=True)
class Kpi:
    name: str
    label: Any
    sql_path: Path
    sql_file: str                   # as shown to people: reports/<name>/kpis/x.sql
    unit: str = "number"
    decimals: int = 0
    good: str = "up"
    kind: str = "periodic"
    drivers: tuple[tuple[str, ...], ...] = ()
    headline: bool = False
    target: float | None = None
    anomalies: Anomalies = field(default_factory=Anomalies)
    optional: bool = False
    missing_message: Any = None
    description: Any = None
    aliases: Any = ()               # other names the commentary may use: a list, or {de: [...], en: [...]}
    line: int = 0

    @property
    def dimensions(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(d for driver in self.drivers for d in driver))


@dataclass(frozen=True)
class TableColumn:
    name: str
    label: Any
    unit: str | None = None
    decimals: int = 0
    values: Any = None              # labels of coded values, as for a dimension


@dataclass(frozen=True)
class TableSpec:
    name: str
    title: Any
    sql_path: Path
    sql_file: str
    columns: tuple[TableColumn, ...] = ()
    optional: bool = False
    missing_message: Any = None
    line: int = 0


@dataclass(frozen=True)
class EmailDelivery:
    to: tuple[str, ...]
    subject: Any = None
    require_approval: bool = False


@dataclass(frozen=True)
class ReportSpec:
    name: str
    dir: Path
    file: str                       # reports/<name>/report.yml, as shown to people
    title: Any
    language: str
    grain: str
    kpis: tuple[Kpi, ...]
    tables: tuple[TableSpec, ...] = ()
    dimensions: dict[str, Dimension] = field(default_factory=dict)
    description: Any = None
    calendar: str = "calendar"
    data_through: Path | None = None
    comparisons: tuple[str, ...] = ("previous_period", "same_period_last_year")
    plan: Path | None = None
    anomalies: Anomalies = field(default_factory=Anomalies)
    narrative: Narrative = field(default_factory=Narrative)
    schedule: str | None = None
    email: EmailDelivery | None = None
    template: Path | None = None
    drivers_top: int = 5
    freshness_hours: float = 36.0
    first_period: str = ""          # the first Dagster partition (a period key of the grain); "" = FIRST_PERIOD_DEFAULT
    translated: bool = False        # issued in another language than report.yml's (kontor report --language)

    @property
    def issue_name(self) -> str:
        """The name its issues are archived and stored under: a translation is its own series."""
        return f"{self.name}_{self.language}" if self.translated else self.name

    def in_language(self, language: str) -> ReportSpec:
        """The same report in ``language`` (labels written as {de: ..., en: ...} switch with it)."""
        from dataclasses import replace

        from pipelines.core.errors import KontorError

        if language not in LANGUAGES:
            raise KontorError(f"language {language!r} is not one of {', '.join(LANGUAGES)}")
        return self if language == self.language else replace(self, language=language, translated=True)

    def kpi(self, name: str) -> Kpi:
        return next(k for k in self.kpis if k.name == name)

    def text(self, value: Any) -> str:
        return localized(value, self.language)

    def value_label(self, values: Any, value: Any) -> Any:
        """A coded value ('customer') as the report's reader reads it ('Kunden'), else as it is."""
        if isinstance(values, dict) and str(value) in values:
            return self.text(values[str(value)])
        return value

    def names(self, value: Any) -> list[str]:
        """A list written plainly or as ``{de: [...], en: [...]}``, in the report's language."""
        if isinstance(value, dict):
            value = value.get(self.language) or []
        return [str(v) for v in value or []]

    @property
    def sql_files(self) -> list[Path]:
        files = [k.sql_path for k in self.kpis] + [t.sql_path for t in self.tables]
        return files + ([self.data_through] if self.data_through else [])

    def relations(self) -> set[str]:
        """``schema.table`` names the report's SQL reads (for Dagster deps and freshness)."""
        found: set[str] = set()
        for path in self.sql_files:
            found |= referenced_relations(path.read_text(encoding="utf-8"))
        return found


def referenced_relations(sql: str) -> set[str]:
    """Schema-qualified tables a query reads; CTE names and ``report_periods`` are not relations.

    >>> sorted(referenced_relations("with x as (select 1) select * from marts.a join x on true"))
    ['marts.a']
    """
    tree = parsed.parse_one(sql, read="duckdb")
    return {f"{t.db}.{t.name}" for t in tree.find_all(exp.Table) if t.db}


# -- report.yml as written ------------------------------------------------------------------------
# Messages keep the words ``kontor check`` has always used ("unit 'x' is not one of ...", "... must
# be true or false, got ..."); the loader puts each at its line and leaves the bad value out.

def _choice(choices: tuple[str, ...], *fields: str):
    def check(cls, value: Any, info) -> Any:
        if value not in choices:
            raise ValueError(f"{info.field_name} {value!r} is not one of {', '.join(choices)}"
                             f"{did_you_mean(str(value), set(choices))}")
        return value
    return field_validator(*fields, mode="before")(classmethod(check))


def _number(*fields: str, low: float = 0, integer: bool = False):
    def check(cls, value: Any, info) -> Any:
        if isinstance(value, bool) or not isinstance(value, (int, float)) or value < low \
                or (integer and int(value) != value):
            kind = "a whole number" if integer else "a number"
            raise ValueError(f"{info.field_name} must be {kind} ≥ {low:g}, got {value!r}")
        return int(value) if integer else float(value)
    return field_validator(*fields, mode="before")(classmethod(check))


def _flag(*fields: str, unset: bool = False):
    def check(cls, value: Any, info) -> Any:
        if not isinstance(value, bool) and not (unset and value is None):
            raise ValueError(f"{info.field_name} must be true or false, got {value!r}")
        return value
    return field_validator(*fields, mode="before")(classmethod(check))


def _bad_name(what: str, value: Any) -> str | None:
    if not isinstance(value, str) or not NAME.match(value):
        return f"{what} name {value!r} must be lower snake_case (a-z, 0-9, _)"
    return None


def _bad_sql(value: Any) -> str | None:
    if not isinstance(value, str) or not value.endswith(".sql"):
        return f"sql must name a .sql file in the report folder, got {value!r}"
    if PurePosixPath(value).is_absolute() or ".." in PurePosixPath(value).parts:
        return f"{value!r} must be a path inside the report folder, without '..'"
    return None


class _Named(Spec):
    """A KPI or a table: a snake_case name and a SQL file. Either missing or wrong, the rest of it
    is still checked (its SQL file too), and the engine leaves it out."""

    name: Any = None
    sql: Any = None

    @field_validator("name", mode="before")
    @classmethod
    def _snake_case(cls, value: Any) -> Any:
        if (problem := _bad_name(cls.what, value)) is not None:
            raise ValueError(problem)
        return value

    @field_validator("sql", mode="before")
    @classmethod
    def _sql(cls, value: Any) -> Any:
        if (problem := _bad_sql(value)) is not None:
            raise ValueError(problem)
        return value

    def problems(self):
        if "name" not in self._key_lines:
            yield self.line, _bad_name(self.what, None)
        if "sql" not in self._key_lines:
            yield self.line, _bad_sql(None)


class AnomaliesYml(Spec):
    """``anomalies:`` of the report or of a KPI; what a KPI does not say comes from the report."""

    what: ClassVar[str] = "anomalies"

    threshold_pct: float | None = None
    zscore: float | None = None
    history: int | None = None
    min_share_pct: float | None = None
    min_history: int | None = None

    _numbers = _number("threshold_pct", "zscore", "min_share_pct")
    _counts = _number("history", "min_history", low=2, integer=True)

    def over(self, base: Anomalies) -> Anomalies:
        return replace(base, **{key: getattr(self, key) for key in self.model_fields_set})


class NarrativeYml(Spec):
    what: ClassVar[str] = "narrative"

    enabled: bool = True
    model: Any = None
    timeout_s: float = 30.0
    allow_personal_data: bool = False
    max_words: int = 180

    _flags = _flag("enabled", "allow_personal_data")
    _timeout = _number("timeout_s")
    _words = _number("max_words", low=20, integer=True)


class DimensionYml(Spec):
    what: ClassVar[str] = "dimension"

    label: Any = None
    personal: bool | None = None
    values: Any = None

    _personal = _flag("personal", unset=True)     # null: as if not written


class KpiYml(_Named):
    what: ClassVar[str] = "kpi"

    label: Any = None
    aliases: Any = Field(default_factory=list)
    description: Any = None
    unit: str = "number"
    decimals: int = 0
    good: str = "up"
    kind: str = "periodic"
    drivers: Any = ()              # as written (a LineList knows its line): checked against the dimensions
    headline: bool = False
    target: float | None = None
    anomalies: AnomaliesYml | None = None
    optional: bool = False
    missing_message: Any = None

    _unit = _choice(UNITS, "unit")
    _good = _choice(GOOD, "good")
    _kind = _choice(KINDS, "kind")
    _decimals = _number("decimals", integer=True)
    _flags = _flag("headline", "optional")

    @field_validator("aliases", mode="before")
    @classmethod
    def _aliases(cls, value: Any) -> Any:
        value = value or []
        if not (isinstance(value, list) or isinstance(value, dict) and all(isinstance(v, list) for v in value.values())):
            raise ValueError("aliases must be a list of names, or {de: [...], en: [...]}")
        return value

    @field_validator("drivers", mode="before")
    @classmethod
    def _drivers(cls, value: Any) -> Any:
        if not isinstance(value, list):
            raise ValueError("drivers must be a list of dimensions or of [dimension, dimension] pairs")
        return value

    @field_validator("target", mode="before")
    @classmethod
    def _target(cls, value: Any) -> Any:
        if value is not None and (isinstance(value, bool) or not isinstance(value, (int, float))):
            raise ValueError(f"target must be a number, got {value!r}")
        return value


class TableColumnYml(Spec):
    what: ClassVar[str] = "table column"
    shape: ClassVar[str] = "a mapping with a 'name'"

    name: str = Field(description="the column's name")
    label: Any = None
    unit: str | None = None
    decimals: int = 0
    values: Any = None

    _decimals = _number("decimals", integer=True)

    @field_validator("unit", mode="before")
    @classmethod
    def _unit(cls, value: Any) -> Any:
        if value is not None and value not in UNITS:
            raise ValueError(f"unit {value!r} is not one of {', '.join(UNITS)}{did_you_mean(str(value), set(UNITS))}")
        return value


class TableYml(_Named):
    what: ClassVar[str] = "table"

    title: Any = None
    columns: list[TableColumnYml] = []
    optional: bool = False
    missing_message: Any = None

    _optional = _flag("optional")

    @field_validator("columns", mode="before")
    @classmethod
    def _no_columns(cls, value: Any) -> Any:
        return [] if value is None else value


class EmailYml(Spec):
    what: ClassVar[str] = "delivery.email"

    to: Any = Field(None, validate_default=True)
    subject: Any = None
    require_approval: bool = False

    _approval = _flag("require_approval")

    @field_validator("to", mode="before")
    @classmethod
    def _addresses(cls, value: Any) -> Any:
        to = [] if value is None else [value] if isinstance(value, str) else value
        if not to or not isinstance(to, list) or not all(isinstance(a, str) and "@" in a for a in to):
            raise ValueError(f"delivery.email.to must list e-mail addresses, got {to!r}")
        return tuple(to)


class DeliveryYml(Spec):
    what: ClassVar[str] = "delivery"

    email: EmailYml | None = None

    @field_validator("email", mode="before")
    @classmethod
    def _written(cls, value: Any) -> Any:
        if value is None:
            raise ValueError("delivery.email.to must list e-mail addresses, got []")
        return value


_NEEDS_KPIS = "a report needs a list 'kpis' with at least one KPI"


class ReportYml(Spec):
    """``report.yml`` as written."""

    what: ClassVar[str] = "report.yml"
    shape: ClassVar[str] = "a mapping with 'kpis'"

    title: Any = None
    description: Any = None
    language: str = "en"
    grain: str = "month"
    calendar: str = "calendar"
    data_through: Any = None
    comparisons: Any = ("previous_period", "same_period_last_year")
    plan: Any = None
    history: Any = None            # accepted and unused, as always (the periods of history: anomalies.history)
    anomalies: AnomaliesYml | None = None
    narrative: NarrativeYml | None = None
    schedule: Any = None
    dimensions: dict[str, DimensionYml] = {}
    kpis: list[KpiYml] = []
    tables: list[TableYml] = []
    delivery: DeliveryYml | None = None
    template: Any = "template.html.j2"
    drivers_top: int = 5
    freshness_hours: float = 36.0
    first_period: Any = ""

    _language = _choice(LANGUAGES, "language")
    _grain = _choice(GRAINS, "grain")
    _calendar = _choice(CALENDARS, "calendar")
    _top = _number("drivers_top", low=1, integer=True)
    _freshness = _number("freshness_hours")

    @field_validator("dimensions", mode="before")
    @classmethod
    def _empty_dimensions(cls, value: Any) -> Any:
        """``dimensions:`` and ``region:`` written without a value: nothing declared."""
        if value is None:
            return {}
        return {k: {} if v is None else v for k, v in value.items()} if isinstance(value, dict) else value

    @field_validator("kpis", mode="before")
    @classmethod
    def _some_kpis(cls, value: Any) -> Any:
        if not isinstance(value, list) or not value:
            raise ValueError(_NEEDS_KPIS)
        return value

    @field_validator("tables", mode="before")
    @classmethod
    def _no_tables(cls, value: Any) -> Any:
        return [] if value is None else value

    @field_validator("data_through", mode="before")
    @classmethod
    def _data_through(cls, value: Any) -> Any:
        if value is not None and (problem := _bad_sql(value)) is not None:
            raise ValueError(problem)
        return value

    @field_validator("comparisons", mode="before")
    @classmethod
    def _comparisons(cls, value: Any) -> Any:
        if not isinstance(value, list):
            raise ValueError("comparisons must be a list")
        return value

    @field_validator("schedule", mode="before")
    @classmethod
    def _cron(cls, value: Any) -> Any:
        if value is not None and (not isinstance(value, str) or len(value.split()) != 5
                                  or not all(_CRON_FIELD.match(f) for f in value.split())):
            raise ValueError(f"schedule {value!r} is not a cron expression like '0 7 * * *' "
                             "(minute hour day month weekday)")
        return value

    def problems(self):
        if "kpis" not in self._key_lines:
            yield 1, _NEEDS_KPIS
        if self.calendar == "business_days" and self.grain != "day":
            yield self.key_line("calendar"), "calendar business_days needs grain day"
        for kpi in self.kpis:
            for item in kpi.drivers:
                for dim in tuple(item) if isinstance(item, list) else (item,):
                    if dim not in self.dimensions:
                        yield (getattr(kpi.drivers, "line", 0) or kpi.key_line("drivers"),
                               f"driver {dim!r} is not declared under 'dimensions'"
                               f"{did_you_mean(str(dim), set(self.dimensions))}")
                        break
        for what, items in (("kpi", self.kpis), ("table", self.tables)):
            seen: set[str] = set()
            for item in items:
                if item.name is not None and item.name in seen:
                    yield item.line, f"duplicate {what} {item.name!r}"
                seen.add(item.name)
        for c in self.comparisons:
            if c not in COMPARISONS:
                yield self.key_line("comparisons"), (f"unknown comparison {c!r}; use {', '.join(COMPARISONS)}"
                                                     f"{did_you_mean(str(c), set(COMPARISONS))}")
        if self.first_period:
            from pipelines.core.errors import KontorError
            from pipelines.reports.periods import FORMATS, parse_period

            try:
                grain_of = parse_period(str(self.first_period)).grain
            except KontorError as exc:
                yield self.key_line("first_period"), f"first_period: {exc}"
            else:
                if grain_of != self.grain:
                    yield self.key_line("first_period"), (
                        f"first_period {self.first_period!r} is a {grain_of}, but the report is issued per "
                        f"{self.grain}; write a {self.grain} such as {FORMATS[self.grain]}")


# -- the folder: files report.yml names, and the engine's view --------------------------------------

def _sql_file(report_dir: Path, rel_dir: str, value: str, line: int, problems: list[Problem]) -> tuple[Path, str] | None:
    """The SQL file ``value`` names, when it exists and parses; else a problem."""
    path, shown = report_dir / value, f"{rel_dir}/{value}"
    if not path.is_file():
        problems.append(Problem(f"{rel_dir}/report.yml", line, f"{shown} not found; fix: create it or correct the path"))
        return None
    try:
        parsed.parse_one(path.read_text(encoding="utf-8"), read="duckdb")
    except sqlglot.errors.ParseError as exc:
        where = exc.errors[0].get("line") if exc.errors else None
        problems.append(Problem(shown, where, f"SQL syntax error: {exc.errors[0]['description'] if exc.errors else exc}"))
        return None
    return path, shown


def _kpi(kpi: KpiYml, sql: tuple[Path, str], base: Anomalies) -> Kpi:
    return Kpi(
        name=kpi.name, label=kpi.label if "label" in kpi.model_fields_set else kpi.name,
        sql_path=sql[0], sql_file=sql[1], unit=kpi.unit, decimals=kpi.decimals, good=kpi.good, kind=kpi.kind,
        drivers=tuple(tuple(item) if isinstance(item, list) else (item,) for item in kpi.drivers),
        headline=kpi.headline, target=None if kpi.target is None else float(kpi.target),
        anomalies=kpi.anomalies.over(base) if kpi.anomalies else base, optional=kpi.optional,
        missing_message=kpi.missing_message, description=kpi.description, aliases=kpi.aliases, line=kpi.line)


def _table(table: TableYml, sql: tuple[Path, str]) -> TableSpec:
    columns = tuple(TableColumn(c.name, c.label if "label" in c.model_fields_set else c.name, c.unit, c.decimals,
                                c.values) for c in table.columns)
    return TableSpec(table.name, table.title if "title" in table.model_fields_set else table.name, sql[0], sql[1],
                     columns, table.optional, table.missing_message, table.line)


def _privacy(doc: ReportYml, kpis: list[Kpi], file: str, problems: list[Problem]) -> dict[str, Dimension]:
    """Personal or not, from the SQL: a dimension whose values come from master-data names
    (``privacy.trace``), or that cannot be traced, is personal; ``personal: false`` on such a
    dimension is an error unless the report sends names on purpose (allow_personal_data)."""
    from pipelines.reports.privacy import MASTER_TABLE, trace

    allow_personal = doc.narrative is not None and doc.narrative.allow_personal_data
    resolved = {}
    for name, dim in doc.dimensions.items():
        found, sources = [], set()
        for kpi in kpis:
            if name in kpi.dimensions:
                personal, leaves = trace(kpi.sql_path.read_text(encoding="utf-8"), name)
                sources.update(leaves)
                if personal:
                    found.append(f"{kpi.sql_file} ({', '.join(leaves)})")
        traced = bool(found) or bool(MASTER_TABLE.search(name))
        if dim.personal is False and traced and not allow_personal:
            why = found[0] if found else f"the name {name!r}"
            problems.append(Problem(file, dim.key_line("personal"), (
                f"dimension {name!r} is declared personal: false, but {why} carries master-data names; "
                "fix: remove 'personal: false' (its members are then pseudonymised in prompts), or set "
                "narrative.allow_personal_data: true to send names to the model on purpose")))
        label = dim.label if "label" in dim.model_fields_set else name
        resolved[name] = Dimension(name, label, traced if dim.personal is None else dim.personal,
                                   tuple(sorted(sources)), dim.values)
    return resolved


def _plan(path: Path, shown: str, kpis: set[str], problems: list[Problem]) -> None:
    with path.open(encoding="utf-8", newline="") as fh:
        reader = csv.DictReader(fh)
        if set(reader.fieldnames or []) != {"kpi", "period", "value"}:
            problems.append(Problem(shown, 1, "the plan needs exactly the columns kpi,period,value"))
            return
        for line, row in enumerate(reader, start=2):
            if row["kpi"] not in kpis:
                problems.append(Problem(shown, line, f"unknown kpi {row['kpi']!r}{did_you_mean(row['kpi'], kpis)}"))
            try:
                float(row["value"])
            except (TypeError, ValueError):
                problems.append(Problem(shown, line, f"value {row['value']!r} is not a number (write 1234.5)"))


def load_report(report_dir: Path, rel_dir: str) -> ReportSpec:
    """Read ``report_dir/report.yml``; raises ``ProjectError`` listing every problem."""
    shown = f"{rel_dir}/report.yml"
    doc, problems = validate(ReportYml, yamlfile.load(report_dir / "report.yml", shown), shown)
    if doc is None:
        raise ProjectError(problems)
    name = report_dir.name
    if not NAME.match(name):
        problems.append(Problem(shown, 1, f"report folder {name!r} must be lower snake_case: it becomes the asset "
                                          f"reports/{name}"))
    anomalies = doc.anomalies.over(Anomalies()) if doc.anomalies else Anomalies()
    kpis, tables = [], []
    for kpi in doc.kpis:
        sql = kpi.sql and _sql_file(report_dir, rel_dir, kpi.sql, kpi.key_line("sql"), problems)
        if sql and kpi.name:
            kpis.append(_kpi(kpi, sql, anomalies))
    for table in doc.tables:
        sql = table.sql and _sql_file(report_dir, rel_dir, table.sql, table.key_line("sql"), problems)
        if sql and table.name:
            tables.append(_table(table, sql))
    dimensions = _privacy(doc, kpis, shown, problems)
    comparisons = tuple(c for c in doc.comparisons if c in COMPARISONS)

    plan = None
    if doc.plan is not None:
        plan_path = report_dir / str(doc.plan)
        if not plan_path.is_file() or ".." in PurePosixPath(str(doc.plan)).parts:
            problems.append(Problem(shown, doc.key_line("plan"), f"plan file {rel_dir}/{doc.plan} not found; "
                                                                 "fix: a CSV with columns kpi,period,value"))
        else:
            plan = plan_path
            _plan(plan_path, f"{rel_dir}/{doc.plan}", {k.name for k in kpis}, problems)
    if "plan" in comparisons and plan is None and not any(k.target is not None for k in kpis):
        problems.append(Problem(shown, doc.key_line("comparisons"),
                                "comparison 'plan' needs a plan file ('plan: plan.csv') or a KPI 'target'"))

    data_through = None
    if doc.data_through is not None:
        found = _sql_file(report_dir, rel_dir, doc.data_through, doc.key_line("data_through"), problems)
        data_through = found[0] if found else None

    template = report_dir / str(doc.template)
    if not template.is_file():
        problems.append(Problem(shown, doc.key_line("template") if "template" in doc.model_fields_set else 1,
                                f"template {rel_dir}/{template.name} not found; fix: create it (see reports/README.md)"))
    if problems:
        raise ProjectError(problems)
    written = doc.narrative or NarrativeYml()
    narrative = Narrative(enabled=written.enabled, model=str(written.model) if written.model else None,
                          timeout_s=written.timeout_s, allow_personal_data=written.allow_personal_data,
                          max_words=written.max_words)
    email = doc.delivery.email if doc.delivery else None
    return ReportSpec(
        name=name, dir=report_dir, file=shown, title=doc.title if "title" in doc.model_fields_set else name,
        language=doc.language, grain=doc.grain, kpis=tuple(kpis), tables=tuple(tables), dimensions=dimensions,
        description=doc.description, calendar=doc.calendar, data_through=data_through, comparisons=comparisons,
        plan=plan, anomalies=anomalies, narrative=narrative, schedule=doc.schedule,
        email=EmailDelivery(email.to, email.subject, email.require_approval) if email else None,
        template=template, drivers_top=doc.drivers_top, freshness_hours=doc.freshness_hours,
        first_period=str(doc.first_period or ""),
    )


def report_dirs(project_dir: Path) -> list[Path]:
    root = project_dir / "reports"
    return sorted(p for p in root.iterdir() if (p / "report.yml").is_file()) if root.is_dir() else []


def load_reports(project_dir: Path) -> tuple[list[ReportSpec], list[Problem]]:
    """Every report of the project, and every problem found in any of them."""
    reports, problems = [], []
    for path in report_dirs(project_dir):
        try:
            reports.append(load_report(path, f"reports/{path.name}"))
        except ProjectError as exc:
            problems += exc.problems
    return reports, problems


def find_report(project_dir: Path, name: str) -> ReportSpec:
    from pipelines.core.errors import KontorError

    names = [p.name for p in report_dirs(project_dir)]
    if name not in names:
        raise KontorError(f"unknown report {name!r}{did_you_mean(name, set(names))}; reports are the folders "
                          f"under reports/ with a report.yml ({', '.join(names) or 'none yet'})")
    return load_report(project_dir / "reports" / name, f"reports/{name}")


# Schemas the pipeline fills outside models/ (entity resolution, bookkeeping, report facts):
# a report may read them; whether they exist is known only at run time (optional KPIs).
RUNTIME_SCHEMAS = ("entities", "kontor", "reports")


def check_relations(reports: list[ReportSpec], known: set[str]) -> list[Problem]:
    """Relations the report SQL reads that no model or source provides, as ``file:line`` problems."""
    problems = []
    for spec in reports:
        for path in spec.sql_files:
            text = path.read_text(encoding="utf-8")
            shown = f"reports/{spec.name}/{path.relative_to(spec.dir)}"
            for relation in sorted(referenced_relations(text)):
                if relation in known or relation.split(".")[0] in RUNTIME_SCHEMAS:
                    continue
                line = next((n for n, row in enumerate(text.splitlines(), 1) if relation.split(".")[1] in row), None)
                problems.append(Problem(shown, line, f"unknown relation {relation}{did_you_mean(relation, known)}; "
                                                     "reports read models (marts.*, staging.*) and sources (raw.*)"))
    return problems
