"""Kontor's string similarities (pipelines/engines/spark_functions.py) equal DuckDB's, bit for bit.

The unmarked test compares the Python functions with DuckDB on every ordered pair of a word list
(company names and keys in the demo's spellings, umlauts, other scripts, empty strings, strings
longer than 64 characters). The spark-marked test runs the registered UDFs on Spark through the
rewrite layer, and shows that Spark's builtin of the same name gives other values."""
from __future__ import annotations

import itertools
import random

import duckdb
import pyarrow as pa
import pytest

from pipelines.engines.spark_functions import damerau_levenshtein, jaro_similarity, jaro_winkler_similarity
from pipelines.engines.spark_rules import to_spark

WORDS = ["", "a", "b", "ab", "ba", "abc", "ca", "martha", "marhta", "dixon", "dicksonx", "über", "uber", "é", "e",
         "Metzgerei Schindler e.K.", "Metzgerei Voigt KG", "metzgereibrandt", "metzgereischindler",
         "Kfz-Werkstatt Matthias Günther GmbH", "KFZ-Werkstatt Matthias Günther", "Kfz-Werkstatt Simon GmbH",
         "mueller", "müller", "muller", "schmidt", "schmitt", "schmied", "hauptstrasse", "hauptstr", "bahnhofstrasse",
         "東京", "東京都", "x" * 70, "x" * 69 + "y", "ab" * 40, "ba" * 40]


def _pairs() -> list[tuple[str, str]]:
    rng = random.Random(7)
    letters = "abcdeéüßö z"
    words = WORDS + ["".join(rng.choice(letters) for _ in range(rng.randint(1, 12))) for _ in range(60)]
    return list(itertools.product(words, words))


def _duckdb(pairs):
    con = duckdb.connect()
    con.register("p", pa.table({"a": [a for a, _ in pairs], "b": [b for _, b in pairs]}))
    return con.execute("select a, b, jaro_similarity(a, b), jaro_winkler_similarity(a, b), damerau_levenshtein(a, b) "
                       "from p").fetchall()


def test_the_python_functions_equal_duckdbs_on_every_pair():
    rows = _duckdb(_pairs())
    assert len(rows) > 9000
    wrong = [(a, b, j, jw, dl) for a, b, j, jw, dl in rows
             if (jaro_similarity(a, b), jaro_winkler_similarity(a, b), damerau_levenshtein(a, b)) != (j, jw, dl)]
    assert not wrong, wrong[:5]


@pytest.mark.spark
def test_kontors_functions_on_spark_equal_duckdbs_and_sparks_builtin_does_not(spark):
    from pipelines.engines.spark_functions import register

    register(spark)
    pairs = _pairs()
    expected = {(a, b): (j, jw, dl) for a, b, j, jw, dl in _duckdb(pairs)}
    spark.createDataFrame(pa.table({"a": [a for a, _ in pairs], "b": [b for _, b in pairs]}).to_pandas()) \
        .createOrReplaceTempView("_kontor_pairs")
    sql = to_spark("select a, b, jaro_similarity(a, b) as j, jaro_winkler_similarity(a, b) as jw, "
                   "damerau_levenshtein(a, b) as dl from _kontor_pairs")
    got = {(r.a, r.b): (r.j, r.jw, r.dl) for r in spark.sql(sql).toLocalIterator()}
    assert got == expected
    builtin = {(r.a, r.b): r.jw for r in spark.sql("select a, b, jaro_winkler_similarity(a, b) as jw from _kontor_pairs").toLocalIterator()}
    differ = sum(builtin[k] != expected[k][1] for k in expected)
    print(f"\nSpark's builtin jaro_winkler_similarity differs from DuckDB's on {differ} of {len(expected)} pairs")
    assert differ > 0
    nulls = spark.sql(to_spark("select jaro_winkler_similarity(null, 'a') as jw, damerau_levenshtein('a', null) as dl")).collect()[0]
    assert (nulls.jw, nulls.dl) == (None, None)


@pytest.mark.spark
def test_one_typo_on_spark_is_sparks_own_and_equals_duckdbs(spark):
    """``damerau_levenshtein(a, b) = 1`` (the legal-form split's typo test) runs on Spark's own
    functions (``spark_rules.damerau_levenshtein_one``, no Python UDF) with DuckDB's answer on every
    pair, NULLs included; the pairs one edit apart include swaps, insertions and substitutions."""
    pairs = _pairs() + [(None, "a"), ("a", None), (None, None)]
    con = duckdb.connect()
    con.register("p", pa.table({"a": [a for a, _ in pairs], "b": [b for _, b in pairs]}))
    expected = {(a, b): (one, rev) for a, b, one, rev in
                con.execute("select a, b, damerau_levenshtein(a, b) = 1, 1 = damerau_levenshtein(b, a) from p").fetchall()}
    assert sum(one is True for one, _ in expected.values()) > 100 and expected[("martha", "marhta")] == (True, True)
    assert expected[(None, "a")] == (None, None)
    spark.createDataFrame(pa.table({"a": [a for a, _ in pairs], "b": [b for _, b in pairs]}).to_pandas()) \
        .createOrReplaceTempView("_kontor_pairs")
    sql = to_spark("select a, b, damerau_levenshtein(a, b) = 1 as one, 1 = damerau_levenshtein(b, a) as rev from _kontor_pairs")
    assert "KONTOR_DAMERAU_LEVENSHTEIN" not in sql.upper()
    plan = spark.sql(sql)._jdf.queryExecution().executedPlan().toString()
    assert "ArrowEvalPython" not in plan and "BatchEvalPython" not in plan
    got = {(r.a, r.b): (r.one, r.rev) for r in spark.sql(sql).toLocalIterator()}
    assert got == expected
