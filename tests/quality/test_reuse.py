"""A passing suite on unchanged data is not judged again; any change to the data or the rules is."""
from __future__ import annotations

import datetime as dt

import duckdb
import pytest

from pipelines.quality.runner import run_suite
from pipelines.quality.spec import Rule, Suite
from pipelines.core.warehouse import ensure_bookkeeping


def rule(name: str, type_: str, **kwargs) -> Rule:
    return Rule(name=name, type=type_, kwargs=kwargs, severity="error", description=None, file="x.yml", line=1)


SUITE = Suite(asset="marts/orders", file="expectations/marts.orders.yml", rules=(
    rule("amount_positive", "expect_column_values_to_be_between", column="amount", min_value=0),
    rule("known_customer", "unexpected_rows_expectation",
         unexpected_rows_query="select * from {batch} where customer not in (select id from marts.customers)"),
))
DAY = dt.datetime(2026, 3, 1, 8, 0)


@pytest.fixture()
def con() -> duckdb.DuckDBPyConnection:
    con = duckdb.connect()
    con.execute("create schema marts")
    con.execute("create table marts.customers as select 'C' || i as id from range(5) t(i)")
    con.execute("create table marts.orders as select i as order_no, (i * 3.5)::decimal(10, 2) as amount, "
                "'C' || (i % 5) as customer from range(200) t(i)")
    ensure_bookkeeping(con)
    return con


def judged(con, run_id: str, at: dt.datetime = DAY):
    """(judged by GX this time?, per rule (success, unexpected, element))."""
    outcome = run_suite(con, SUITE, run_id=run_id, checked_at=at)
    fresh = all(o.result is not None for o in outcome.rules)
    assert fresh or all(o.result is None for o in outcome.rules)
    return fresh, [(o.success, o.unexpected_count, o.element_count) for o in outcome.rules]


def test_unchanged_data_reuses_the_pass_and_records_it_for_the_run(con):
    first = judged(con, "r1")
    assert first == (True, [(True, 0, 200), (True, 0, 200)])
    assert judged(con, "r2", DAY + dt.timedelta(hours=1)) == (False, first[1])
    rows = con.execute("select run_id, rule, success, unexpected_count, element_count from kontor.gate_results "
                       "order by run_id, rule").fetchall()
    assert rows == [(r, name, True, 0, 200) for r in ("r1", "r2") for name in ("amount_positive", "known_customer")]


@pytest.mark.parametrize("change", [
    "update marts.orders set amount = amount + 0.01 where order_no = 17",            # one value
    "insert into marts.orders select * from marts.orders where order_no = 3",       # a duplicate row
    "delete from marts.customers where id = 'C9'",                                   # nothing deleted: reused
    "insert into marts.customers values ('C99')",                                    # a table the query reads
    "alter table marts.orders alter amount type decimal(12, 3)",                     # the type, same values
])
def test_any_change_is_judged_again(con, change):
    judged(con, "r1")
    con.execute(change)
    fresh, _ = judged(con, "r2", DAY + dt.timedelta(hours=1))
    assert fresh is (not change.startswith("delete"))


def test_failures_and_a_new_day_are_always_judged(con):
    judged(con, "r1")
    assert judged(con, "r2", DAY + dt.timedelta(days=1))[0]          # rules may compare with today
    con.execute("update marts.orders set amount = -1 where order_no = 5")
    assert judged(con, "r3") == (True, [(False, 1, 200), (True, 0, 200)])
    assert judged(con, "r4")[0]                                        # a failure is never reused
