"""The facts engine: every number of a report, computed in SQL, deterministic, before any prose.

A KPI's SQL file returns one row per period and dimension member: ``period_start`` (a date from
the temporary table ``report_periods``), one column per dimension it names as a driver,
``value`` and optionally ``denominator``. The KPI is ``sum(value)`` (or ``sum(value) /
sum(denominator)`` for ratios such as a margin in %); totals and drivers come from the same rows,
so they always add up. A ``snapshot`` KPI (master-data counts) returns no ``period_start``: its
value is "now", and its history comes from the facts stored with earlier issues.

``report_periods`` has ``period_key, period_start, period_end, days``: the report's period, its
comparisons and its history. SQL may also use the parameters ``$period_start``, ``$period_end``,
``$previous_start``, ``$previous_end``, ``$last_year_start``, ``$last_year_end`` and
``$data_through``.

Contributions to a change are exact: for a sum, member value minus member value; for a ratio
r = N/D against r0, member m contributes (n'_m - r0 d'_m)/D' - (n_m - r0 d_m)/D, and the
contributions add up to r' - r0.
"""
from __future__ import annotations

import csv
import hashlib
import statistics
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path
from dataclasses import dataclass, field
from typing import Any
from zoneinfo import ZoneInfo

import sqlglot
from sqlglot import exp

from pipelines.core.errors import KontorError
from pipelines.engines.connection import Connection, EngineError
from pipelines.reports import i18n
from pipelines.reports.periods import Period, history, latest_complete, parse_period, period_containing
from pipelines.reports.spec import Kpi, ReportSpec, TableSpec, referenced_relations
from pipelines.reports.status import data_status, relations
from pipelines.core.sql import template

BERLIN = ZoneInfo("Europe/Berlin")
CHART_PERIODS = 12                   # periods before the current one that charts show
_ROWS = "_kontor_kpi_rows"


@dataclass
class Series:
    """One member's KPI per period, and for a ratio its numerator and denominator per period."""

    values: dict[Period, float | None] = field(default_factory=dict)
    parts: dict[Period, tuple[float, float]] = field(default_factory=dict)

    def get(self, period: Period) -> float | None:
        return self.values.get(period)

    def volume(self, period: Period, ratio: bool) -> float:
        """What a share is measured on: the denominator for a ratio, else the value."""
        return self.parts.get(period, (0.0, 0.0))[1] if ratio else (self.values.get(period) or 0.0)


def _plain(value: Any) -> Any:
    if isinstance(value, Decimal):
        return float(value)
    if isinstance(value, (date, datetime)):
        return value.isoformat()
    return value


def _parameters(sql: str, values: dict[str, Any]) -> dict[str, Any]:
    """Only the named parameters the SQL uses (DuckDB refuses extra ones)."""
    used = {p.name for p in sqlglot.parse_one(sql, dialect="duckdb").find_all(exp.Placeholder) if p.name}
    unknown = used - set(values)
    if unknown:
        raise KontorError(f"unknown parameter ${sorted(unknown)[0]}; use one of ${', $'.join(sorted(values))}")
    return {k: v for k, v in values.items() if k in used}


class FactsEngine:
    """Computes the facts of one report for one period on one warehouse connection."""

    def __init__(self, con: Connection, spec: ReportSpec, period: Period | str | None = None,
                 now: datetime | None = None):
        self.con, self.spec = con, spec
        self.now = now or datetime.now(BERLIN).replace(tzinfo=None)      # local time: which period is complete
        self.now_utc = self.now.replace(tzinfo=BERLIN).astimezone(timezone.utc).replace(tzinfo=None)  # the ledger's clock
        self.known = relations(con)
        self.language = spec.language
        self.data_through, self.coverage_source = data_through(con, spec, self.now, self.known)
        if period is None:
            self.period = latest_period(spec, self.data_through, self.now)
        elif isinstance(period, str):
            self.period = check_period(spec, period)
        else:
            self.period = period
        self.coverage = self._coverage()
        self.compared = {"previous_period": self.period.shift(-1),
                         "same_period_last_year": self.period.same_period_last_year()}
        depth = max([CHART_PERIODS] + [k.anomalies.history for k in spec.kpis])
        self.history = history(self.period, depth)
        self.window = sorted({self.period, *self.compared.values(), *self.history})
        self.plan = self._plan()

    # -- inputs ---------------------------------------------------------------------------------
    def _coverage(self) -> dict:
        """How much of the period the data covers: refused when none of it, provisional when part."""
        period, through = self.period, self.data_through
        if period.start > through:
            latest = latest_complete(self.spec.grain, through, self.spec.calendar == "business_days")
            raise KontorError(
                f"{self.spec.name}: no data for {period.key}: the data ends on {through.isoformat()} "
                f"({self.coverage_source}); fix: issue {latest.key} or an earlier period, or load newer extracts")
        if self.spec.kpis and all(k.kind == "snapshot" for k in self.spec.kpis):
            # A snapshot is the state as of the data's last day: it cannot speak for an earlier period.
            latest = latest_complete(self.spec.grain, through)
            if period not in (latest, period_containing(through, self.spec.grain)):
                raise KontorError(f"{self.spec.name} shows the state as of {through.isoformat()} ({self.coverage_source}), "
                                  f"not of {period.key}; fix: issue {latest.key}, or read the archived version of {period.key}")
        covered = (min(period.end, through) - period.start).days + 1
        return {"complete": period.end <= through, "through": min(period.end, through).isoformat(),
                "days_covered": covered, "days": period.days, "source": self.coverage_source}

    def _plan(self) -> dict[tuple[str, str], float]:
        if self.spec.plan is None:
            return {}
        with self.spec.plan.open(encoding="utf-8", newline="") as fh:
            return {(r["kpi"], r["period"]): float(r["value"]) for r in csv.DictReader(fh)}

    def _pro_rated_plan(self, kpi: str) -> float | None:
        """A day's (or week's) plan from the month's: its share of the month's business days (of all
        days for a calendar report). The days of a week in another month count for that month."""
        business = self.spec.calendar == "business_days"
        total = 0.0
        found = False
        day = self.period.start
        while day <= self.period.end:
            month = period_containing(day, "month")
            monthly = self.plan.get((kpi, month.key))
            counted = [d for d in _days(month) if not business or d.isoweekday() <= 5]
            if monthly is not None and counted and (not business or day.isoweekday() <= 5):
                total += monthly / len(counted)
                found = True
            day += timedelta(days=1)
        return total if found else None

    def parameters(self) -> dict[str, Any]:
        prev, last_year = self.compared["previous_period"], self.compared["same_period_last_year"]
        return {"period_start": self.period.start, "period_end": self.period.end,
                "previous_start": prev.start, "previous_end": prev.end,
                "last_year_start": last_year.start, "last_year_end": last_year.end,
                "data_through": self.data_through}

    def _periods_table(self) -> None:
        self.con.execute(template(__file__, "report_periods"))
        self.con.executemany(template(__file__, "report_periods_insert"),
                             [(p.key, p.start, p.end, p.days) for p in self.window])

    def _run(self, path: Path, what: str) -> None:
        sql = path.read_text(encoding="utf-8").strip().rstrip(";")
        try:
            # the KPI's own query as its file has it, behind the one statement that keeps its rows
            self.con.execute(template(__file__, "kpi_rows") + " " + sql, _parameters(sql, self.parameters()))
        except (EngineError, KontorError) as exc:
            raise KontorError(f"{self._shown(path)}: {what} query failed: {str(exc).splitlines()[0]}; "
                              "fix: run it with `kontor query` and correct it") from exc

    def _shown(self, path: Path) -> str:
        return f"reports/{self.spec.name}/{path.relative_to(self.spec.dir)}"

    def _missing(self, path: Path) -> set[str]:
        return spec_relations(path) - self.known

    # -- KPIs -----------------------------------------------------------------------------------
    def kpi_facts(self, kpi: Kpi) -> dict:
        text = self.spec.text
        fact = {"name": kpi.name, "label": text(kpi.label), "aliases": self.spec.names(kpi.aliases), "unit": kpi.unit, "decimals": kpi.decimals,
                "good": kpi.good, "headline": kpi.headline, "kind": kpi.kind, "sql_file": kpi.sql_file,
                "sql_sha256": hashlib.sha256(kpi.sql_path.read_bytes()).hexdigest(),
                "description": text(kpi.description) if kpi.description else None,
                "status": "ok", "message": None, "value": None, "comparisons": {}, "drivers": [],
                "history": [], "zscore": None, "anomalies": []}
        missing = self._missing(kpi.sql_path)
        if missing:
            if not kpi.optional:
                raise KontorError(f"{kpi.sql_file}: reads {', '.join(sorted(missing))}, which is not in the warehouse; "
                                  "fix: run `kontor run` first, or mark the KPI 'optional: true'")
            fact.update(status="missing", message=text(kpi.missing_message) or
                        f"{i18n.word('missing', self.language)}: {', '.join(sorted(missing))}")
            return fact
        self._run(kpi.sql_path, f"KPI {kpi.name!r}")
        columns = [c[0] for c in self.con.execute(template(__file__, "kpi_columns")).description]
        needed = (["period_start"] if kpi.kind == "periodic" else []) + ["value", *kpi.dimensions]
        absent = [c for c in needed if c not in columns]
        if absent:
            raise KontorError(f"{kpi.sql_file}: the query returns no column {absent[0]!r}; a {kpi.kind} KPI returns "
                              f"{', '.join(needed)} (and optionally denominator)")
        ratio = "denominator" in columns
        if kpi.kind == "snapshot":
            return self._snapshot(kpi, fact, ratio)
        series = self._series(ratio, ())[()]
        fact["value"] = series.get(self.period)
        fact["history"] = [{"period": p.key, "label": i18n.period_label(p, self.language), "value": series.get(p)}
                           for p in [*self.history[-CHART_PERIODS:], self.period]]
        self._compare(kpi, fact, series)
        fact["zscore"] = _zscore(fact["value"], [series.get(p) for p in self.history[-kpi.anomalies.history:]],
                                 kpi.anomalies.min_history)
        self._anomalies(kpi, fact)
        for dims in kpi.drivers:
            fact["drivers"] += self._drivers(kpi, dims, ratio, fact, series)
        return fact

    def _series(self, ratio: bool, dims: tuple[str, ...]) -> dict[tuple, Series]:
        """Per member (a tuple of dimension values; ``()`` for the total): the KPI per period."""
        by_start = {p.start: p for p in self.window}
        rows = self.con.execute(_totals_sql(dims, ratio, "period_start")).fetchall()
        raw: dict[tuple, dict[Period, tuple[float, float | None]]] = {}
        for row in rows:
            period = by_start.get(row[0] if isinstance(row[0], date) else None)
            if period is not None:
                member = tuple(self.spec.value_label(self.spec.dimensions[d].values, v) for d, v in zip(dims, row[1:1 + len(dims)]))
                raw.setdefault(member, {})[period] = (row[-2], row[-1])
        first = min((p for member in raw.values() for p in member), default=None)
        series = {}
        for member, values in raw.items():
            series[member] = one = Series()
            for p in self.window:
                num, denominator = values.get(p, (0.0, 0.0))
                if first is None or p < first:
                    one.values[p] = None             # before the data starts: unknown, not zero
                elif ratio:
                    one.values[p] = (num / denominator) if denominator else None
                    one.parts[p] = (num, denominator or 0.0)
                else:
                    one.values[p] = num
        return series or {(): Series({p: None for p in self.window})}

    def _comparison_value(self, kpi: Kpi, name: str, series: Series | dict) -> tuple[str, float | None]:
        if name == "plan":
            value = self.plan.get((kpi.name, self.period.key))
            if value is None and self.period.grain in ("day", "week"):
                value = self._pro_rated_plan(kpi.name)
            return "plan", kpi.target if value is None else value
        return self.compared[name].key, series.get(self.compared[name])

    def _compare(self, kpi: Kpi, fact: dict, series: Series | dict) -> None:
        value = fact["value"]
        for name in self.spec.comparisons:
            key, other = self._comparison_value(kpi, name, series)
            delta = None if value is None or other is None else value - other
            pct = None if delta is None or not other or kpi.unit == "%" else delta / abs(other) * 100
            fact["comparisons"][name] = {"period": key, "value": other, "delta": delta, "delta_pct": pct}

    def _direction(self, kpi: Kpi, delta: float | None) -> str:
        if kpi.good == "neutral" or not delta:
            return "neutral"
        return "good" if (delta > 0) == (kpi.good == "up") else "bad"

    def _anomalies(self, kpi: Kpi, fact: dict) -> None:
        rules = kpi.anomalies
        for name, cmp in fact["comparisons"].items():
            size = cmp["delta"] if kpi.unit == "%" else cmp["delta_pct"]
            if size is not None and abs(size) >= rules.threshold_pct:
                fact["anomalies"].append({"rule": "threshold", "comparison": name, "threshold": rules.threshold_pct,
                                          "delta": cmp["delta"], "delta_pct": cmp["delta_pct"],
                                          "direction": self._direction(kpi, cmp["delta"])})
        z = fact["zscore"]
        if z and abs(z["z"]) >= rules.zscore:
            fact["anomalies"].append({"rule": "zscore", "z": z["z"], "limit": rules.zscore, "n": z["n"],
                                      "direction": self._direction(kpi, z["z"])})

    def _drivers(self, kpi: Kpi, dims: tuple[str, ...], ratio: bool, fact: dict, total: dict) -> list[dict]:
        series = self._series(ratio, dims)
        personal = any(self.spec.dimensions[d].personal for d in dims)
        label = " × ".join(self.spec.text(self.spec.dimensions[d].label) for d in dims)
        out = []
        for name in self.spec.comparisons:
            if name == "plan":
                continue
            other = self.compared[name]
            members = [_member(m, s, self.period, other, total, ratio, kpi.unit == "%") for m, s in series.items()]
            members = [m for m in members if m["contribution"] is not None]
            members.sort(key=lambda m: (-abs(m["contribution"]), m["member"]))
            out.append({"dimension": label, "dims": list(dims), "personal": personal, "comparison": name,
                        "members": members[:self.spec.drivers_top], "member_count": len(members)})
        if not personal:
            self._member_anomalies(kpi, fact, label, series, total, ratio)
        return out

    def _member_anomalies(self, kpi: Kpi, fact: dict, label: str, series: dict, total: dict, ratio: bool) -> None:
        rules = kpi.anomalies
        previous = self.compared["previous_period"]
        past = self.history[-rules.history:]
        for member, values in series.items():
            share = max(_share(values, total, p, ratio) for p in (self.period, previous))
            if share < rules.min_share_pct:
                continue
            z = _zscore(values.get(self.period), [values.get(p) for p in past], rules.min_history)
            if z and abs(z["z"]) >= rules.zscore:
                now, before = values.get(self.period), values.get(previous)
                delta = None if now is None or before is None else now - before
                fact["anomalies"].append({
                    "rule": "member_zscore", "dimension": label, "member": " / ".join(str(m) for m in member),
                    "value": now, "compare_value": before, "comparison": "previous_period", "delta": delta,
                    "delta_pct": None if delta is None or not before or kpi.unit == "%" else delta / abs(before) * 100,
                    "z": z["z"], "limit": rules.zscore, "share_pct": share,
                    "direction": self._direction(kpi, z["z"])})

    def _snapshot(self, kpi: Kpi, fact: dict, ratio: bool) -> dict:
        num, denominator = self.con.execute(_totals_sql((), ratio)).fetchone()
        fact["value"] = (num / denominator if denominator else None) if ratio else (num or 0.0)
        stored = self._stored_values(kpi.name)
        series = {p: stored.get(p.key) for p in self.window}
        series[self.period] = fact["value"]
        fact["history"] = [{"period": p.key, "label": i18n.period_label(p, self.language), "value": series.get(p)}
                           for p in [*self.history[-CHART_PERIODS:], self.period]]
        self._compare(kpi, fact, series)
        fact["zscore"] = _zscore(fact["value"], [series.get(p) for p in self.history[-kpi.anomalies.history:]],
                                 kpi.anomalies.min_history)
        self._anomalies(kpi, fact)
        for dims in kpi.drivers:
            rows = self.con.execute(_member_totals_sql(dims)).fetchall()
            members = [{"member": " / ".join(str(self.spec.value_label(self.spec.dimensions[d].values, v))
                                             for d, v in zip(dims, r[:-1])), "value": r[-1]} for r in rows]
            fact["drivers"].append({
                "dimension": " × ".join(self.spec.text(self.spec.dimensions[d].label) for d in dims),
                "dims": list(dims), "personal": any(self.spec.dimensions[d].personal for d in dims),
                "comparison": None, "members": members, "member_count": len(members)})
        return fact

    def _stored_values(self, kpi: str) -> dict[str, float]:
        """Values of a snapshot KPI in earlier issues (latest version per period)."""
        if "reports.facts" not in self.known:
            return {}
        rows = self.con.execute(template(__file__, "stored_snapshot_values"), [self.spec.issue_name, kpi]).fetchall()
        return dict(rows)

    # -- tables ---------------------------------------------------------------------------------
    def table_facts(self, table: TableSpec) -> dict:
        text = self.spec.text
        fact = {"name": table.name, "title": text(table.title), "sql_file": table.sql_file,
                "sql_sha256": hashlib.sha256(table.sql_path.read_bytes()).hexdigest(), "status": "ok",
                "message": None, "columns": [], "rows": []}
        missing = self._missing(table.sql_path)
        if missing:
            if not table.optional:
                raise KontorError(f"{table.sql_file}: reads {', '.join(sorted(missing))}, which is not in the "
                                  "warehouse; fix: run `kontor run` first, or mark the table 'optional: true'")
            fact.update(status="missing", message=text(table.missing_message) or
                        f"{i18n.word('missing', self.language)}: {', '.join(sorted(missing))}")
            return fact
        sql = table.sql_path.read_text(encoding="utf-8")
        try:
            result = self.con.execute(sql, _parameters(sql, self.parameters()))
        except (EngineError, KontorError) as exc:
            raise KontorError(f"{table.sql_file}: table query failed: {str(exc).splitlines()[0]}; "
                              "fix: run it with `kontor query` and correct it") from exc
        names = [c[0] for c in result.description]
        rows = result.fetchall()
        declared = {c.name: c for c in table.columns}
        fact["columns"] = [{"name": n, "label": text(declared[n].label) if n in declared else n,
                            "unit": declared[n].unit if n in declared else None,
                            "decimals": declared[n].decimals if n in declared else 0} for n in names]
        labels = [declared[n].values if n in declared else None for n in names]
        fact["rows"] = [[_plain(self.spec.value_label(values, v)) for values, v in zip(labels, row)] for row in rows]
        return fact

    # -- everything -----------------------------------------------------------------------------
    def compute(self) -> dict:
        spec, lang = self.spec, self.language
        self._periods_table()
        try:
            kpis = [self.kpi_facts(k) for k in spec.kpis]
            tables = {t.name: self.table_facts(t) for t in spec.tables}
        finally:
            self.con.execute(template(__file__, "facts_cleanup"))
        periodic = [k for k in kpis if k["kind"] == "periodic" and k["status"] == "ok"]
        if periodic and all(k["value"] is None for k in periodic):
            raise KontorError(f"{spec.name}: no data for {self.period.key}: the report's KPI queries hold no rows "
                              f"for it (the data ends on {self.data_through.isoformat()}); fix: choose a period "
                              "the data covers")
        comparisons = {name: {"key": p.key, "label": i18n.period_label(p, lang), "start": p.start.isoformat(),
                              "end": p.end.isoformat()} for name, p in self.compared.items() if name in spec.comparisons}
        if "plan" in spec.comparisons:
            comparisons["plan"] = {"key": "plan", "label": i18n.word("plan", lang)}
        return {
            "report": spec.issue_name, "title": spec.text(spec.title), "language": lang, "grain": self.period.grain,
            "period": {"key": self.period.key, "grain": self.period.grain, "start": self.period.start.isoformat(),
                       "end": self.period.end.isoformat(), "label": i18n.period_label(self.period, lang)},
            "comparisons": comparisons,
            "data_through": self.data_through.isoformat(),
            "coverage": self.coverage,
            "sql_files": [{"file": self._shown(path), "sha256": hashlib.sha256(path.read_bytes()).hexdigest()}
                          for path in dict.fromkeys(spec.sql_files)],
            "computed_at": self.now.isoformat(timespec="seconds"),
            "kpis": kpis,
            "tables": tables,
            "data_status": data_status(self.con, self.now_utc, spec.freshness_hours, spec.relations()),
        }


def data_through(con: Connection, spec: ReportSpec, now: datetime,
                 known: set[str] | None = None) -> tuple[date, str]:
    """The last day the data covers, from the report's ``data_through`` SQL over the data it reads;
    and where that day comes from (the SQL file, or ``clock`` without one: yesterday)."""
    if spec.data_through is None:
        return now.date() - timedelta(days=1), "clock"
    shown = f"reports/{spec.name}/{spec.data_through.relative_to(spec.dir)}"
    missing = spec_relations(spec.data_through) - (relations(con) if known is None else known)
    if missing:
        raise KontorError(f"{shown}: reads {', '.join(sorted(missing))}, which is not in the warehouse; "
                          "fix: run `kontor run` first")
    value = con.execute(spec.data_through.read_text(encoding="utf-8")).fetchone()
    if not value or value[0] is None:
        raise KontorError(f"{shown}: the data holds no day yet (the query returned null); "
                          "fix: load extracts with `kontor run`")
    found = value[0]
    return (found.date() if isinstance(found, datetime) else found), shown


def latest_period(spec: ReportSpec, through: date, now: datetime) -> Period:
    """The period issued when none is named: the latest complete one the data covers (and the clock:
    never today)."""
    return latest_complete(spec.grain, min(through, now.date() - timedelta(days=1)), spec.calendar == "business_days")


def default_period(con: Connection, spec: ReportSpec, now: datetime | None = None) -> Period:
    """``latest_period`` on this warehouse: what ``kontor run`` and ``kontor report`` without
    ``--period`` issue."""
    now = now or datetime.now(BERLIN).replace(tzinfo=None)
    return latest_period(spec, data_through(con, spec, now)[0], now)


def check_period(spec: ReportSpec, text: str) -> Period:
    """A period string of the report's grain (a business day for a business-day report), else an error.

    >>> from pipelines.reports.spec import ReportSpec
    >>> check_period(ReportSpec("m", Path("."), "f", "t", "de", "month", ()), "2026-W43")
    Traceback (most recent call last):
    ...
    pipelines.core.errors.KontorError: period '2026-W43' is a week, but report m is issued per month; write a month such as 2026-10
    """
    from pipelines.reports.periods import FORMATS

    business = spec.calendar == "business_days"
    period = parse_period(text, business and len(text.strip()) == 10)
    if period.grain != spec.grain:
        raise KontorError(f"period {text!r} is a {period.grain}, but report {spec.name} is issued per {spec.grain}; "
                          f"write a {spec.grain} such as {FORMATS[spec.grain]}")
    if business and period.start.isoweekday() > 5:
        raise KontorError(f"period {text!r} is a {period.start.strftime('%A')}; report {spec.name} covers business "
                          "days (Monday to Friday)")
    return period


def _members(dims: tuple[str, ...]) -> list[exp.Expression]:
    """A member's dimension values as text, one column per dimension."""
    return [exp.cast(exp.column(d, quoted=True), "varchar") for d in dims]


def _totals_sql(dims: tuple[str, ...], ratio: bool, *first: str) -> str:
    """The KPI rows summed (``first`` columns and each member): value, and the denominator of a
    ratio (else null).

    >>> _totals_sql(("region",), True, "period_start")
    'SELECT period_start, CAST("region" AS TEXT), CAST(SUM(value) AS DOUBLE), CAST(SUM(denominator) AS DOUBLE) FROM _kontor_kpi_rows GROUP BY ALL'
    >>> _totals_sql((), False)
    'SELECT CAST(SUM(value) AS DOUBLE), NULL FROM _kontor_kpi_rows'
    """
    den = exp.cast(exp.func("sum", exp.column("denominator"), dialect="duckdb"), "double") if ratio else exp.null()
    query = exp.select(*first, *_members(dims), exp.cast(exp.func("sum", exp.column("value"), dialect="duckdb"), "double"), den)
    query = query.from_(_ROWS)
    return (query.group_by(exp.var("ALL")) if first or dims else query).sql("duckdb")


def _member_totals_sql(dims: tuple[str, ...]) -> str:
    """A snapshot KPI's value per member, in member order.

    >>> _member_totals_sql(("region", "product_group"))
    'SELECT CAST("region" AS TEXT), CAST("product_group" AS TEXT), CAST(SUM(value) AS DOUBLE) FROM _kontor_kpi_rows GROUP BY ALL ORDER BY 1'
    """
    query = exp.select(*_members(dims), exp.cast(exp.func("sum", exp.column("value"), dialect="duckdb"), "double")).from_(_ROWS)
    return query.group_by(exp.var("ALL")).order_by(exp.Literal.number(1)).sql("duckdb")


def _days(period: Period) -> list[date]:
    return [period.start + timedelta(days=n) for n in range(period.days)]


def spec_relations(path: Path) -> set[str]:
    return referenced_relations(path.read_text(encoding="utf-8"))


def _zscore(value: float | None, past: list[float | None], minimum: int) -> dict | None:
    values = [v for v in past if v is not None]
    if value is None or len(values) < minimum:
        return None
    std = statistics.stdev(values)
    if std == 0:
        return None
    mean = statistics.fmean(values)
    return {"z": (value - mean) / std, "mean": mean, "std": std, "n": len(values)}


def _share(member: Series, total: Series, period: Period, ratio: bool) -> float:
    """A member's share of the KPI's volume (of the denominator for a ratio) in %."""
    whole = total.volume(period, ratio)
    return abs(member.volume(period, ratio)) / abs(whole) * 100 if whole else 0.0


def _member(member: tuple, series: Series, period: Period, other: Period, total: Series, ratio: bool,
            in_percent: bool) -> dict:
    now, before = series.get(period), series.get(other)
    inputs: dict[str, float | None]
    if ratio:
        (n1, d1), (n0, d0) = series.parts.get(period, (0.0, 0.0)), series.parts.get(other, (0.0, 0.0))
        big_d1, big_d0 = total.volume(period, True), total.volume(other, True)
        r0 = total.get(other)
        contribution = None if r0 is None or not big_d1 or not big_d0 else \
            (n1 - r0 * d1) / big_d1 - (n0 - r0 * d0) / big_d0
        inputs = {"n1": n1, "d1": d1, "n0": n0, "d0": d0, "D1": big_d1, "D0": big_d0, "r0": r0}
    else:
        contribution = None if total.get(other) is None else (now or 0.0) - (before or 0.0)
        inputs = {"member_value": now or 0.0, "member_compare_value": before or 0.0}
    delta = None if now is None or before is None else now - before
    return {"member": " / ".join(str(m) for m in member), "value": now, "compare_value": before, "delta": delta,
            "delta_pct": None if delta is None or not before or in_percent else delta / abs(before) * 100,
            "contribution": contribution, "contribution_inputs": inputs,
            "share_pct": _share(series, total, period, ratio)}


def compute_facts(con: Connection, spec: ReportSpec, period: Period | str | None = None,
                  now: datetime | None = None) -> dict:
    """The facts of ``spec`` for ``period`` (default: the latest complete period of its grain)."""
    return FactsEngine(con, spec, period, now).compute()
