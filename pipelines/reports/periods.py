"""Report periods: parse ``2026-10``, ``2026-W43``, ``2026-10-31``, ``2026-Q3``; shift; compare.

>>> p = parse_period("2026-Q3"); (p.grain, str(p.start), str(p.end), p.key)
('quarter', '2026-07-01', '2026-09-30', '2026-Q3')
>>> parse_period("2026-W01").start.isoformat(), parse_period("2026-10").shift(-1).key
('2025-12-29', '2026-09')
>>> latest_complete("day", date(2026, 11, 1), business_days=True).key
'2026-10-30'
"""
from __future__ import annotations

import calendar
import re
from dataclasses import dataclass
from datetime import date, timedelta

from pipelines.core.errors import KontorError

_PATTERNS = (
    ("day", re.compile(r"^(\d{4})-(\d{2})-(\d{2})$")),
    ("week", re.compile(r"^(\d{4})-W(\d{2})$")),
    ("quarter", re.compile(r"^(\d{4})-Q([1-4])$")),
    ("month", re.compile(r"^(\d{4})-(\d{2})$")),
)
FORMATS = {"day": "2026-10-31", "week": "2026-W43", "month": "2026-10", "quarter": "2026-Q3"}


@dataclass(frozen=True, order=True)
class Period:
    start: date
    end: date
    grain: str
    business_days: bool = False

    @property
    def key(self) -> str:
        if self.grain == "day":
            return self.start.isoformat()
        if self.grain == "week":
            year, week, _ = self.start.isocalendar()
            return f"{year}-W{week:02d}"
        if self.grain == "quarter":
            return f"{self.start.year}-Q{(self.start.month - 1) // 3 + 1}"
        return f"{self.start.year}-{self.start.month:02d}"

    @property
    def days(self) -> int:
        return (self.end - self.start).days + 1

    def shift(self, n: int) -> Period:
        """The period ``n`` steps away (negative: earlier); business days skip weekends."""
        if self.grain == "day":
            day, step = self.start, (1 if n > 0 else -1)
            for _ in range(abs(n)):
                day += timedelta(days=step)
                while self.business_days and day.isoweekday() > 5:
                    day += timedelta(days=step)
            return period_containing(day, "day", self.business_days)
        if self.grain == "week":
            return period_containing(self.start + timedelta(weeks=n), "week")
        months = 3 if self.grain == "quarter" else 1
        index = self.start.year * 12 + self.start.month - 1 + n * months
        return period_containing(date(index // 12, index % 12 + 1, 1), self.grain)

    def same_period_last_year(self) -> Period:
        """Month and quarter: the same one a year earlier; week: the same ISO week number (52
        when the year had no week 53); day: 364 days earlier, so the weekday is the same."""
        if self.grain == "day":
            return period_containing(self.start - timedelta(days=364), "day", self.business_days)
        if self.grain == "week":
            year, week, _ = self.start.isocalendar()
            weeks = date(year - 1, 12, 28).isocalendar()[1]
            return period_containing(date.fromisocalendar(year - 1, min(week, weeks), 1), "week")
        return period_containing(self.start.replace(year=self.start.year - 1), self.grain)


def period_containing(day: date, grain: str, business_days: bool = False) -> Period:
    if grain == "day":
        return Period(day, day, "day", business_days)
    if grain == "week":
        start = day - timedelta(days=day.isoweekday() - 1)
        return Period(start, start + timedelta(days=6), "week")
    if grain == "month":
        return Period(day.replace(day=1), day.replace(day=calendar.monthrange(day.year, day.month)[1]), "month")
    if grain == "quarter":
        first = (day.month - 1) // 3 * 3 + 1
        last = first + 2
        return Period(date(day.year, first, 1), date(day.year, last, calendar.monthrange(day.year, last)[1]), "quarter")
    raise ValueError(f"unknown grain {grain!r}")


def parse_period(text: str, business_days: bool = False) -> Period:
    """A period from its key; raises ``KontorError`` naming the accepted forms."""
    text = text.strip()
    for grain, pattern in _PATTERNS:
        match = pattern.match(text)
        if not match:
            continue
        try:
            numbers = [int(g) for g in match.groups()]
            if grain == "day":
                return period_containing(date(*numbers), "day", business_days)
            if grain == "week":
                return period_containing(date.fromisocalendar(numbers[0], numbers[1], 1), "week")
            if grain == "quarter":
                return period_containing(date(numbers[0], numbers[1] * 3 - 2, 1), "quarter")
            return period_containing(date(numbers[0], numbers[1], 1), "month")
        except ValueError:
            break
    raise KontorError(f"period {text!r} is not a valid period; write a month 2026-10, an ISO week 2026-W43, "
                      "a day 2026-10-31 or a quarter 2026-Q3")


def latest_complete(grain: str, through: date, business_days: bool = False) -> Period:
    """The latest period of ``grain`` that ends on or before ``through`` (a complete period)."""
    period = period_containing(through, grain, business_days)
    if business_days:
        while period.start.isoweekday() > 5:
            period = period_containing(period.start - timedelta(days=1), "day", True)
    return period if period.end <= through else period.shift(-1)


def history(period: Period, count: int) -> list[Period]:
    """The ``count`` periods before ``period``, oldest first."""
    return [period.shift(-n) for n in range(count, 0, -1)]
