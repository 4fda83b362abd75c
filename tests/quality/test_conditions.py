"""The gate's predicates in isolation (pipelines/quality/conditions.py): built as sqlglot expressions,
a column is always a quoted identifier and a value always a literal, whatever characters they hold;
run on a real DuckDB table to show the predicate means what the rule says."""
from __future__ import annotations

import datetime as dt
import math

import duckdb
import great_expectations as gx
import pandas as pd
import pytest
from sqlglot import exp

from pipelines.quality.conditions import Columns, Cond, RuleError, compile_condition, lit
from pipelines.quality.gate import DuckDBGate

ODD = ['Konto "Nr"', "o'brien", "two words", "x; drop table t; --"]
HOSTILE = "it's'); drop table t; --"


@pytest.fixture()
def con():
    con = duckdb.connect()
    frame = pd.DataFrame({ODD[0]: pd.array([1, 2, 3, 4], dtype="int32"), ODD[1]: ["a", HOSTILE, None, "b"],
                          ODD[2]: [1.5, float("nan"), None, 9.0], ODD[3]: ["p", "q", "p", None]})
    con.from_df(frame).create("t")      # the names come from the frame, never quoted by hand
    yield con
    con.close()


def columns(con) -> Columns:
    return Columns({r[0]: r[1] for r in con.execute("describe t").fetchall()}, "t")


def unexpected(con, metric: str, domain: dict, **kwargs) -> tuple[Cond, int]:
    cond = Cond(key="c0", metric=metric, domain=domain, value_kwargs=kwargs)
    # GX's null conditions look at every row; the others at the non-missing values
    compile_condition(columns(con), cond, filters_nulls=metric not in ("column_values.nonnull", "column_values.null"))
    where = exp.and_(exp.paren(cond.filter), exp.paren(cond.unexpected))
    return cond, con.execute(exp.select(exp.Count(this=exp.Star())).from_("t").where(where).sql("duckdb")).fetchone()[0]


@pytest.mark.parametrize("name", ODD)
def test_a_column_with_a_quote_space_or_semicolon_is_one_quoted_identifier(con, name):
    cond, _ = unexpected(con, "column_values.nonnull", {"column": name})
    found = list(cond.unexpected.find_all(exp.Column))
    assert found and all(column.name == name and column.this.quoted for column in found)
    assert con.execute(exp.select(cond.unexpected).from_("t").sql("duckdb")).fetchall()   # DuckDB reads it


def test_every_column_of_odd_name_gives_its_own_count(con):
    assert unexpected(con, "column_values.nonnull", {"column": 'Konto "Nr"'})[1] == 0
    assert unexpected(con, "column_values.nonnull", {"column": "o'brien"})[1] == 1
    assert unexpected(con, "column_values.nonnull", {"column": "two words"})[1] == 2      # NULL and NaN
    assert unexpected(con, "column_values.nonnull", {"column": "x; drop table t; --"})[1] == 1
    assert unexpected(con, "column_values.between", {"column": 'Konto "Nr"'}, min_value=2, max_value=3)[1] == 2


def test_a_value_with_a_quote_is_a_literal_never_spliced(con):
    cond, count = unexpected(con, "column_values.in_set", {"column": "o'brien"}, value_set=["a", HOSTILE])
    assert count == 1                                              # only 'b' is outside the set
    strings = [lit_.this for lit_ in cond.unexpected.find_all(exp.Literal) if lit_.is_string]
    assert strings == ["a", HOSTILE]
    assert con.execute("select count(*) from t").fetchone()[0] == 4     # the table is still there
    _, count = unexpected(con, "column_values.not_in_set", {"column": "o'brien"}, value_set=[HOSTILE])
    assert count == 1


def test_a_regex_with_quotes_and_backslashes_is_one_literal(con):
    cond, count = unexpected(con, "column_values.match_regex", {"column": "o'brien"}, regex=r"^it's'\)")
    assert count == 2                                              # 'a' and 'b' do not match
    (rx,) = [x for x in cond.unexpected.find_all(exp.Literal) if x.is_string]
    assert rx.this == r"^it's'\)" and cond.re2 == r"^it's'\)"


def test_a_pair_and_a_column_list_quote_every_name(con):
    # every row fails a > b: 1 > 1.5, 2 > NaN (NaN sorts greatest), 3 > NULL (NULL is unexpected), 4 > 9
    _, count = unexpected(con, "column_pair_values.a_greater_than_b", {"column_A": 'Konto "Nr"', "column_B": "two words"})
    assert count == 4
    cond, _ = unexpected(con, "compound_columns.unique", {"column_list": ODD})
    record = con.execute(exp.select(exp.alias_(cond.value, "v")).from_("t").limit(1).sql("duckdb")).fetchone()[0]
    assert list(record) == ODD                     # the unexpected record is keyed by the column names


def test_a_missing_column_is_named_not_compiled(con):
    with pytest.raises(RuleError, match="column \"it's\" does not exist in t"):
        unexpected(con, "column_values.nonnull", {"column": "it's"})


@pytest.mark.parametrize("value", [None, True, False, -7, 2**62, 0.1, -1e-300, float("inf"), float("-inf"),
                                   "O'Brien", "", "a\\b", dt.date(2024, 2, 29), dt.datetime(2024, 2, 29, 13, 5, 7, 123456)])
def test_a_literal_is_the_value_in_duckdb(value):
    got = duckdb.connect().execute(exp.select(lit(value)).sql("duckdb")).fetchone()[0]
    assert got == value and type(got) is type(value)


def test_nan_is_a_double_literal():
    assert math.isnan(duckdb.connect().execute(exp.select(lit(float("nan"))).sql("duckdb")).fetchone()[0])


def test_a_query_that_is_not_a_select_is_refused_and_never_run(con):
    suite = gx.ExpectationSuite(name="t", expectations=[
        gx.expectations.UnexpectedRowsExpectation(unexpected_rows_query="delete from {batch}"),
        gx.expectations.UnexpectedRowsExpectation(unexpected_rows_query="select * from {batch} where \"o'brien\" = 'b'")])
    first, second = DuckDBGate(con, "t").validate(suite).results
    assert "must be a query (SELECT ...), not a DELETE statement" in first.exception_info["exception_message"]
    assert second.success is False and second.result["observed_value"] == 1
    assert con.execute("select count(*) from t").fetchone()[0] == 4
