"""``reports/<name>/report.yml``: what a report computes, read with line numbers for ``kontor check``.

A report is a folder (Evidence's idea): ``report.yml`` (KPIs, dimensions, comparisons, anomaly
rules, narrative and delivery settings), the KPI and table SQL files it names, a Jinja template
and optionally a plan CSV. The YAML declares data; the template decides the layout.

>>> localized({"de": "Umsatz", "en": "Revenue"}, "en"), localized("Umsatz", "en")
('Revenue', 'Umsatz')
"""
from __future__ import annotations

import csv
import re
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

import sqlglot
from sqlglot import exp

from pipelines.core import parsed

from pipelines.core import yamlfile
from pipelines.core.errors import Problem, ProjectError
from pipelines.core.errors import did_you_mean
from pipelines.core.yamlfile import LineDict

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

_REPORT_KEYS = {"title", "description", "language", "grain", "calendar", "data_through", "comparisons",
                "plan", "history", "anomalies", "narrative", "schedule", "dimensions", "kpis", "tables",
                "delivery", "template", "drivers_top", "freshness_hours", "first_period"}
_KPI_KEYS = {"name", "label", "aliases", "description", "sql", "unit", "decimals", "good", "kind", "drivers",
             "headline", "target", "anomalies", "optional", "missing_message"}
_TABLE_KEYS = {"name", "title", "sql", "columns", "optional", "missing_message"}
_COLUMN_KEYS = {"name", "label", "unit", "decimals", "values"}
_ANOMALY_KEYS = {"threshold_pct", "zscore", "history", "min_share_pct", "min_history"}
_NARRATIVE_KEYS = {"enabled", "model", "timeout_s", "allow_personal_data", "max_words"}
_DIMENSION_KEYS = {"label", "personal", "values"}
_DELIVERY_KEYS = {"email"}
_EMAIL_KEYS = {"to", "subject", "require_approval"}


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


class _Checker:
    def __init__(self, file: str):
        self.file = file
        self.problems: list[Problem] = []

    def add(self, line: int | None, message: str) -> None:
        self.problems.append(Problem(self.file, line, message))

    def keys(self, node: LineDict, allowed: set[str], what: str) -> None:
        for key in node:
            if key not in allowed:
                self.add(node.key_line(key), f"unknown key {key!r} in {what}{did_you_mean(str(key), allowed)}")

    def mapping(self, value: Any, line: int, what: str) -> LineDict:
        if value is None:
            return _empty(line)
        if isinstance(value, LineDict):
            return value
        self.add(line, f"{what} must be a mapping")
        return _empty(line)

    def choice(self, node: LineDict, key: str, choices: tuple[str, ...], default: str) -> str:
        value = node.get(key, default)
        if value not in choices:
            self.add(node.key_line(key), f"{key} {value!r} is not one of {', '.join(choices)}{did_you_mean(str(value), set(choices))}")
            return default
        return value

    def number(self, node: LineDict, key: str, default: float, low: float = 0, integer: bool = False) -> Any:
        value = node.get(key, default)
        if isinstance(value, bool) or not isinstance(value, (int, float)) or value < low or (integer and int(value) != value):
            kind = "a whole number" if integer else "a number"
            self.add(node.key_line(key), f"{key} must be {kind} ≥ {low:g}, got {value!r}")
            return default
        return int(value) if integer else float(value)

    def flag(self, node: LineDict, key: str, default: bool) -> bool:
        value = node.get(key, default)
        if not isinstance(value, bool):
            self.add(node.key_line(key), f"{key} must be true or false, got {value!r}")
            return default
        return value

    def name(self, node: LineDict, what: str) -> str | None:
        value = node.get("name")
        if not isinstance(value, str) or not NAME.match(value):
            self.add(node.key_line("name"), f"{what} name {value!r} must be lower snake_case (a-z, 0-9, _)")
            return None
        return value


def _empty(line: int) -> LineDict:
    node = LineDict()
    node.line, node.key_lines = line, {}
    return node


def _sql_file(report_dir: Path, rel_dir: str, value: Any, line: int, chk: _Checker) -> tuple[Path, str] | None:
    if not isinstance(value, str) or not value.endswith(".sql"):
        chk.add(line, f"sql must name a .sql file in the report folder, got {value!r}")
        return None
    if PurePosixPath(value).is_absolute() or ".." in PurePosixPath(value).parts:
        chk.add(line, f"{value!r} must be a path inside the report folder, without '..'")
        return None
    path = report_dir / value
    shown = f"{rel_dir}/{value}"
    if not path.is_file():
        chk.add(line, f"{shown} not found; fix: create it or correct the path")
        return None
    try:
        parsed.parse_one(path.read_text(encoding="utf-8"), read="duckdb")
    except sqlglot.errors.ParseError as exc:
        where = exc.errors[0].get("line") if exc.errors else None
        chk.problems.append(Problem(shown, where, f"SQL syntax error: {exc.errors[0]['description'] if exc.errors else exc}"))
        return None
    return path, shown


def _anomalies(node: Any, line: int, base: Anomalies, chk: _Checker) -> Anomalies:
    node = chk.mapping(node, line, "anomalies")
    chk.keys(node, _ANOMALY_KEYS, "anomalies")
    return Anomalies(
        threshold_pct=chk.number(node, "threshold_pct", base.threshold_pct),
        zscore=chk.number(node, "zscore", base.zscore),
        history=chk.number(node, "history", base.history, low=2, integer=True),
        min_share_pct=chk.number(node, "min_share_pct", base.min_share_pct),
        min_history=chk.number(node, "min_history", base.min_history, low=2, integer=True),
    )


def _drivers(node: LineDict, dimensions: dict[str, Dimension], chk: _Checker) -> tuple[tuple[str, ...], ...]:
    raw = node.get("drivers", [])
    if not isinstance(raw, list):
        chk.add(node.key_line("drivers"), "drivers must be a list of dimensions or of [dimension, dimension] pairs")
        return ()
    drivers = []
    for item in raw:
        dims = tuple(item) if isinstance(item, list) else (item,)
        for dim in dims:
            if dim not in dimensions:
                chk.add(getattr(raw, "line", node.key_line("drivers")),
                        f"driver {dim!r} is not declared under 'dimensions'{did_you_mean(str(dim), set(dimensions))}")
                break
        else:
            drivers.append(dims)
    return tuple(drivers)


def _kpi(node: Any, report_dir: Path, rel_dir: str, spec: dict[str, Any], chk: _Checker) -> Kpi | None:
    if not isinstance(node, LineDict):
        chk.add(None, "each entry under 'kpis' must be a mapping")
        return None
    chk.keys(node, _KPI_KEYS, "kpi")
    name = chk.name(node, "kpi")
    sql = _sql_file(report_dir, rel_dir, node.get("sql"), node.key_line("sql"), chk)
    if name is None or sql is None:
        return None
    aliases = node.get("aliases") or []
    if not (isinstance(aliases, list) or isinstance(aliases, dict) and all(isinstance(v, list) for v in aliases.values())):
        chk.add(node.key_line("aliases"), "aliases must be a list of names, or {de: [...], en: [...]}")
        aliases = []
    target = node.get("target")
    if target is not None and (isinstance(target, bool) or not isinstance(target, (int, float))):
        chk.add(node.key_line("target"), f"target must be a number, got {target!r}")
        target = None
    return Kpi(
        name=name, label=node.get("label", name), sql_path=sql[0], sql_file=sql[1],
        unit=chk.choice(node, "unit", UNITS, "number"),
        decimals=chk.number(node, "decimals", 0, integer=True),
        good=chk.choice(node, "good", GOOD, "up"),
        kind=chk.choice(node, "kind", KINDS, "periodic"),
        drivers=_drivers(node, spec["dimensions"], chk),
        headline=chk.flag(node, "headline", False),
        target=None if target is None else float(target),
        anomalies=_anomalies(node.get("anomalies"), node.key_line("anomalies"), spec["anomalies"], chk),
        optional=chk.flag(node, "optional", False),
        missing_message=node.get("missing_message"),
        description=node.get("description"),
        aliases=aliases,
        line=node.line,
    )


def _table(node: Any, report_dir: Path, rel_dir: str, chk: _Checker) -> TableSpec | None:
    if not isinstance(node, LineDict):
        chk.add(None, "each entry under 'tables' must be a mapping")
        return None
    chk.keys(node, _TABLE_KEYS, "table")
    name = chk.name(node, "table")
    sql = _sql_file(report_dir, rel_dir, node.get("sql"), node.key_line("sql"), chk)
    columns = []
    for col in node.get("columns", []) or []:
        if not isinstance(col, LineDict) or not isinstance(col.get("name"), str):
            chk.add(node.key_line("columns"), "each table column needs a name")
            continue
        chk.keys(col, _COLUMN_KEYS, "table column")
        unit = col.get("unit")
        if unit is not None and unit not in UNITS:
            chk.add(col.key_line("unit"), f"unit {unit!r} is not one of {', '.join(UNITS)}")
            unit = None
        columns.append(TableColumn(col["name"], col.get("label", col["name"]), unit,
                                   chk.number(col, "decimals", 0, integer=True), col.get("values")))
    if name is None or sql is None:
        return None
    return TableSpec(name, node.get("title", name), sql[0], sql[1], tuple(columns),
                     chk.flag(node, "optional", False), node.get("missing_message"), node.line)


def _privacy(dimensions: dict[str, Dimension], declared: dict[str, tuple[Any, int]], kpis: list[Kpi],
             allow_personal: bool, chk: _Checker) -> dict[str, Dimension]:
    """Personal or not, from the SQL: a dimension whose values come from master-data names
    (``privacy.trace``), or that cannot be traced, is personal; ``personal: false`` on such a
    dimension is an error unless the report sends names on purpose (allow_personal_data)."""
    from pipelines.reports.privacy import MASTER_TABLE, trace

    resolved = {}
    for name, dim in dimensions.items():
        flag, line = declared[name]
        if flag is not None and not isinstance(flag, bool):
            chk.add(line, f"personal must be true or false, got {flag!r}")
            flag = None
        found, sources = [], set()
        for kpi in kpis:
            if name in kpi.dimensions:
                personal, leaves = trace(kpi.sql_path.read_text(encoding="utf-8"), name)
                sources.update(leaves)
                if personal:
                    found.append(f"{kpi.sql_file} ({', '.join(leaves)})")
        traced = bool(found) or bool(MASTER_TABLE.search(name))
        if flag is False and traced and not allow_personal:
            why = found[0] if found else f"the name {name!r}"
            chk.add(line, f"dimension {name!r} is declared personal: false, but {why} carries master-data names; "
                          "fix: remove 'personal: false' (its members are then pseudonymised in prompts), or set "
                          "narrative.allow_personal_data: true to send names to the model on purpose")
        resolved[name] = Dimension(name, dim.label, traced if flag is None else flag, tuple(sorted(sources)), dim.values)
    return resolved


def _email(node: Any, line: int, chk: _Checker) -> EmailDelivery | None:
    delivery = chk.mapping(node, line, "delivery")
    chk.keys(delivery, _DELIVERY_KEYS, "delivery")
    if "email" not in delivery:
        return None
    email = chk.mapping(delivery["email"], delivery.key_line("email"), "delivery.email")
    chk.keys(email, _EMAIL_KEYS, "delivery.email")
    to = email.get("to", [])
    to = [to] if isinstance(to, str) else to
    if not to or not all(isinstance(a, str) and "@" in a for a in to):
        chk.add(email.key_line("to"), f"delivery.email.to must list e-mail addresses, got {to!r}")
        return None
    return EmailDelivery(tuple(to), email.get("subject"), chk.flag(email, "require_approval", False))


def _plan(path: Path, shown: str, kpis: set[str], chk: _Checker) -> None:
    with path.open(encoding="utf-8", newline="") as fh:
        reader = csv.DictReader(fh)
        if set(reader.fieldnames or []) != {"kpi", "period", "value"}:
            chk.problems.append(Problem(shown, 1, "the plan needs exactly the columns kpi,period,value"))
            return
        for line, row in enumerate(reader, start=2):
            if row["kpi"] not in kpis:
                chk.problems.append(Problem(shown, line, f"unknown kpi {row['kpi']!r}{did_you_mean(row['kpi'], kpis)}"))
            try:
                float(row["value"])
            except (TypeError, ValueError):
                chk.problems.append(Problem(shown, line, f"value {row['value']!r} is not a number (write 1234.5)"))


def load_report(report_dir: Path, rel_dir: str) -> ReportSpec:
    """Read ``report_dir/report.yml``; raises ``ProjectError`` listing every problem."""
    shown = f"{rel_dir}/report.yml"
    doc = yamlfile.load(report_dir / "report.yml", shown)
    chk = _Checker(shown)
    if not isinstance(doc, LineDict):
        raise ProjectError([Problem(shown, 1, "report.yml must be a mapping with 'kpis'")])
    chk.keys(doc, _REPORT_KEYS, "report.yml")
    name = report_dir.name
    if not NAME.match(name):
        chk.add(1, f"report folder {name!r} must be lower snake_case: it becomes the asset reports/{name}")
    language = chk.choice(doc, "language", LANGUAGES, "en")
    grain = chk.choice(doc, "grain", GRAINS, "month")
    calendar = chk.choice(doc, "calendar", CALENDARS, "calendar")
    if calendar == "business_days" and grain != "day":
        chk.add(doc.key_line("calendar"), "calendar business_days needs grain day")

    dimensions, declared = {}, {}
    for dim, value in chk.mapping(doc.get("dimensions"), doc.key_line("dimensions"), "dimensions").items():
        node = chk.mapping(value, doc.key_line("dimensions"), f"dimension {dim!r}")
        chk.keys(node, _DIMENSION_KEYS, f"dimension {dim!r}")
        declared[dim] = (node.get("personal"), node.key_line("personal") if "personal" in node else node.line)
        dimensions[dim] = Dimension(dim, node.get("label", dim), values=node.get("values"))
    anomalies = _anomalies(doc.get("anomalies"), doc.key_line("anomalies"), Anomalies(), chk)
    context = {"dimensions": dimensions, "anomalies": anomalies}

    kpi_nodes = doc.get("kpis")
    if not isinstance(kpi_nodes, list) or not kpi_nodes:
        chk.add(doc.key_line("kpis") if "kpis" in doc else 1, "a report needs a list 'kpis' with at least one KPI")
        kpi_nodes = []
    kpis = [k for k in (_kpi(n, report_dir, rel_dir, context, chk) for n in kpi_nodes) if k]
    tables = [t for t in (_table(n, report_dir, rel_dir, chk) for n in doc.get("tables", []) or []) if t]
    for what, items in (("kpi", kpis), ("table", tables)):
        seen: set[str] = set()
        for item in items:
            if item.name in seen:
                chk.add(item.line, f"duplicate {what} {item.name!r}")
            seen.add(item.name)

    allow_personal = isinstance(doc.get("narrative"), LineDict) and doc["narrative"].get("allow_personal_data") is True
    dimensions.update(_privacy(dimensions, declared, kpis, allow_personal, chk))

    comparisons = doc.get("comparisons", list(ReportSpec.comparisons))
    if not isinstance(comparisons, list):
        chk.add(doc.key_line("comparisons"), "comparisons must be a list")
        comparisons = []
    for c in comparisons:
        if c not in COMPARISONS:
            chk.add(doc.key_line("comparisons"), f"unknown comparison {c!r}; use {', '.join(COMPARISONS)}{did_you_mean(str(c), set(COMPARISONS))}")
    comparisons = [c for c in comparisons if c in COMPARISONS]

    plan = None
    if doc.get("plan") is not None:
        plan_path = report_dir / str(doc["plan"])
        if not plan_path.is_file() or ".." in PurePosixPath(str(doc["plan"])).parts:
            chk.add(doc.key_line("plan"), f"plan file {rel_dir}/{doc['plan']} not found; fix: a CSV with columns kpi,period,value")
        else:
            plan = plan_path
            _plan(plan_path, f"{rel_dir}/{doc['plan']}", {k.name for k in kpis}, chk)
    if "plan" in comparisons and plan is None and not any(k.target is not None for k in kpis):
        chk.add(doc.key_line("comparisons"), "comparison 'plan' needs a plan file ('plan: plan.csv') or a KPI 'target'")

    data_through = None
    if doc.get("data_through") is not None:
        found = _sql_file(report_dir, rel_dir, doc["data_through"], doc.key_line("data_through"), chk)
        data_through = found[0] if found else None

    schedule = doc.get("schedule")
    if schedule is not None and (not isinstance(schedule, str) or len(schedule.split()) != 5
                                 or not all(_CRON_FIELD.match(f) for f in schedule.split())):
        chk.add(doc.key_line("schedule"), f"schedule {schedule!r} is not a cron expression like '0 7 * * *' (minute hour day month weekday)")
        schedule = None

    first_period = doc.get("first_period", "")
    if first_period:
        from pipelines.core.errors import KontorError
        from pipelines.reports.periods import FORMATS, parse_period

        try:
            grain_of = parse_period(str(first_period)).grain
        except KontorError as exc:
            grain_of = None
            chk.add(doc.key_line("first_period"), f"first_period: {exc}")
        if grain_of is not None and grain_of != grain:
            chk.add(doc.key_line("first_period"), f"first_period {first_period!r} is a {grain_of}, but the report is "
                                                  f"issued per {grain}; write a {grain} such as {FORMATS[grain]}")
            first_period = ""

    narrative_node = chk.mapping(doc.get("narrative"), doc.key_line("narrative"), "narrative")
    chk.keys(narrative_node, _NARRATIVE_KEYS, "narrative")
    model = narrative_node.get("model")
    narrative = Narrative(
        enabled=chk.flag(narrative_node, "enabled", True),
        model=str(model) if model else None,
        timeout_s=chk.number(narrative_node, "timeout_s", 30.0),
        allow_personal_data=chk.flag(narrative_node, "allow_personal_data", False),
        max_words=chk.number(narrative_node, "max_words", 180, low=20, integer=True),
    )

    template = report_dir / str(doc.get("template", "template.html.j2"))
    if not template.is_file():
        chk.add(doc.key_line("template") if "template" in doc else 1,
                f"template {rel_dir}/{template.name} not found; fix: create it (see reports/README.md)")

    if chk.problems:
        raise ProjectError(chk.problems)
    return ReportSpec(
        name=name, dir=report_dir, file=shown, title=doc.get("title", name), language=language, grain=grain,
        kpis=tuple(kpis), tables=tuple(tables), dimensions=dimensions, description=doc.get("description"),
        calendar=calendar, data_through=data_through, comparisons=tuple(comparisons), plan=plan,
        anomalies=anomalies, narrative=narrative, schedule=schedule,
        email=_email(doc.get("delivery"), doc.key_line("delivery"), chk), template=template,
        drivers_top=chk.number(doc, "drivers_top", 5, low=1, integer=True),
        freshness_hours=chk.number(doc, "freshness_hours", 36.0), first_period=str(first_period or ""),
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
