"""Kontor's string similarities (pipelines/engines/spark_functions.py) equal DuckDB's, bit for bit.

The unmarked test compares the Python functions with DuckDB on every ordered pair of a word list
(company names and keys in the demo's spellings, umlauts, other scripts, empty strings, strings
longer than 64 characters, characters outside the BMP, which are two chars in Java). The
spark-marked tests run the registered functions on Spark through the rewrite layer: the Java UDFs of
Kontor's jar (``spark_jar``) on those pairs and on longer random strings, with no Python in the
plan, and the pandas UDFs they fall back to without a jar; and show that Spark's builtin of the
same name gives other values."""
from __future__ import annotations

import itertools
import logging
import random
import zipfile

import duckdb
import pyarrow as pa
import pytest

from pipelines.engines.spark_functions import damerau_levenshtein, jaro_similarity, jaro_winkler_similarity
from pipelines.engines.spark_rules import to_spark

WORDS = ["", "a", "b", "ab", "ba", "abc", "ca", "martha", "marhta", "dixon", "dicksonx", "über", "uber", "é", "e",
         "Metzgerei Schindler e.K.", "Metzgerei Voigt KG", "metzgereibrandt", "metzgereischindler",
         "Kfz-Werkstatt Matthias Günther GmbH", "KFZ-Werkstatt Matthias Günther", "Kfz-Werkstatt Simon GmbH",
         "mueller", "müller", "muller", "schmidt", "schmitt", "schmied", "hauptstrasse", "hauptstr", "bahnhofstrasse",
         "東京", "東京都", "x" * 70, "x" * 69 + "y", "ab" * 40, "ba" * 40,
         "😀", "a😀b", "😀ab", "𝔘ber", "𝔘bär", "ü" * 66, "ü" * 65 + "😀"]


def _pairs() -> list[tuple[str, str]]:
    rng = random.Random(7)
    letters = "abcdeéüßö z"
    words = WORDS + ["".join(rng.choice(letters) for _ in range(rng.randint(1, 12))) for _ in range(60)]
    return list(itertools.product(words, words))


def _long_pairs() -> list[tuple[str, str]]:
    """Random strings of up to 130 characters over a small alphabet (many repeated characters, the
    jaro match window over 64 characters), every ordered pair."""
    rng = random.Random(11)
    words = ["".join(rng.choice("abü😀 ") for _ in range(rng.randint(0, 130))) for _ in range(150)]
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


def _on_spark(spark, pairs) -> dict:
    spark.createDataFrame(pa.table({"a": [a for a, _ in pairs], "b": [b for _, b in pairs]}).to_pandas()) \
        .createOrReplaceTempView("_kontor_pairs")
    sql = to_spark("select a, b, jaro_similarity(a, b) as j, jaro_winkler_similarity(a, b) as jw, "
                   "damerau_levenshtein(a, b) as dl from _kontor_pairs")
    return {(r.a, r.b): (r.j, r.jw, r.dl) for r in spark.sql(sql).toLocalIterator()}


def _plan(spark, functions: str) -> str:
    """The executed plan of ``functions`` (DuckDB SQL over a and b) on rows Spark computes: over a
    local relation the optimizer would evaluate deterministic functions while planning."""
    spark.range(100).selectExpr("cast(id as string) as a", "cast(id * 7 as string) as b") \
        .createOrReplaceTempView("_kontor_computed")
    return spark.sql(to_spark("select " + functions + " from _kontor_computed"))._jdf.queryExecution().executedPlan().toString()


NULLS = "select jaro_similarity(null, 'a') as j, jaro_winkler_similarity(null, 'a') as jw, damerau_levenshtein('a', null) as dl"


@pytest.mark.spark
def test_kontors_java_functions_on_spark_equal_duckdbs_and_sparks_builtin_does_not(spark):
    from pipelines.engines.spark_functions import register

    assert register(spark) == "java"       # the session fixture starts as Kontor does: with the jar
    for pairs in (_pairs(), _long_pairs()):
        expected = {(a, b): (j, jw, dl) for a, b, j, jw, dl in _duckdb(pairs)}
        got = _on_spark(spark, pairs)
        wrong = [(k, got[k], expected[k]) for k in expected if got[k] != expected[k]]
        assert not wrong and got.keys() == expected.keys(), wrong[:5]
    plan = _plan(spark, "jaro_winkler_similarity(a, b) as jw, damerau_levenshtein(a, b) as dl, jaro_similarity(a, b) as j")
    assert "kontor_jaro_winkler_similarity" in plan and "kontor_damerau_levenshtein" in plan
    assert "ArrowEvalPython" not in plan and "BatchEvalPython" not in plan, plan
    builtin = {(r.a, r.b): r.jw for r in spark.sql("select a, b, jaro_winkler_similarity(a, b) as jw from _kontor_pairs").toLocalIterator()}
    differ = sum(builtin[k] != expected[k][1] for k in expected)
    print(f"\nSpark's builtin jaro_winkler_similarity differs from DuckDB's on {differ} of {len(expected)} pairs")
    assert differ > 0
    assert tuple(spark.sql(to_spark(NULLS)).collect()[0]) == (None, None, None)


@pytest.mark.spark
def test_without_a_jar_the_pandas_functions_give_the_same_values_and_the_log_says_so(spark, tmp_path, monkeypatch, caplog):
    """No ``javac`` and an empty jar cache: ``register`` says why once and registers the pandas
    UDFs, equal to DuckDB's on the word list (Python in the plan); afterwards the Java ones again."""
    from pipelines.engines import spark_functions
    from pipelines.engines.spark_jar import functions_jar

    monkeypatch.setenv("KONTOR_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv("JAVA_HOME", str(tmp_path / "no-jdk"))
    monkeypatch.setenv("PATH", str(tmp_path / "no-bin"))
    monkeypatch.setattr(spark_functions, "_SAID", set())
    functions_jar.cache_clear()
    try:
        with caplog.at_level(logging.WARNING, logger="kontor.engines"):
            assert spark_functions.register(spark) == "pandas"
            assert spark_functions.register(spark) == "pandas"
        said = [r.getMessage() for r in caplog.records if r.name == "kontor.engines"]
        assert len(said) == 1 and "pandas UDFs" in said[0] and "openjdk-17-jdk-headless" in said[0], said
        pairs = _pairs()
        assert _on_spark(spark, pairs) == {(a, b): (j, jw, dl) for a, b, j, jw, dl in _duckdb(pairs)}
        assert "ArrowEvalPython" in _plan(spark, "jaro_winkler_similarity(a, b) as jw")
        assert tuple(spark.sql(to_spark(NULLS)).collect()[0]) == (None, None, None)
    finally:
        monkeypatch.undo()
        functions_jar.cache_clear()
        assert spark_functions.register(spark) == "java"


@pytest.mark.spark
def test_the_jar_is_built_from_the_sources_into_the_cache_for_java_17(tmp_path, monkeypatch):
    """A clean cache: the jar is compiled (javac, pyspark's jars) into it, named by the sources'
    hash; the next process finds it there. Its classes are Java 17 bytecode (major version 61)."""
    from pipelines.engines.spark_jar import CLASSES, functions_jar

    monkeypatch.setenv("KONTOR_CACHE_DIR", str(tmp_path))
    functions_jar.cache_clear()
    try:
        jar = functions_jar()
        assert jar.path is not None, jar.reason
        assert jar.path.parent == tmp_path / "spark" and jar.path.name.startswith("kontor-functions-")
        with zipfile.ZipFile(jar.path) as z:
            names = set(z.namelist())
            assert {c.replace(".", "/") + ".class" for c, _ in CLASSES.values()} <= names
            assert int.from_bytes(z.read("kontor/functions/Similarity.class")[6:8], "big") == 61
        built = jar.path.stat().st_mtime_ns
        functions_jar.cache_clear()
        assert functions_jar().path == jar.path and jar.path.stat().st_mtime_ns == built
    finally:
        monkeypatch.undo()
        functions_jar.cache_clear()


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
