"""DuckDB's string-similarity functions on Spark, under Kontor's own names.

Spark 4's builtin ``jaro_winkler_similarity`` gives other values than DuckDB's on about half of
all name pairs, and a temporary function cannot shadow a builtin; Splink's jar differs too. So the
rewrite layer (``spark_rules.kontor_functions``) writes DuckDB's ``jaro_similarity``,
``jaro_winkler_similarity`` and ``damerau_levenshtein`` as ``kontor_*`` functions, registered here
as Java UDFs from Kontor's own jar (``spark_jar``: built from ``pipelines/engines/java`` on first
use, given to the session by ``spark_session.start_session``; over Spark Connect uploaded as an
artifact), so Splink's comparisons run in the JVM. Where there is no jar (no ``javac``, a session
started without it) they are the pandas UDFs below, with the same values, evaluated row by row in
Python workers (many times slower: benchmarks/README.md, spark_vs_duckdb.py): the log says so once.

The algorithms are DuckDB's (its vendored rapidfuzz Jaro-Winkler; Damerau-Levenshtein with
adjacent transpositions, unrestricted edits), on Unicode code points, with DuckDB's arithmetic in
the same order so that the doubles are bit-identical; the Java classes are ports of these functions.
``tests/engines/test_spark_functions.py`` compares both with DuckDB on every pair of a word list.
"""
from __future__ import annotations

import logging
from fractions import Fraction
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

LOG = logging.getLogger("kontor.engines")
_SAID: set[str] = set()        # what the log has said already (once per process)

# DuckDB's name -> Kontor's name on Spark
FUNCTIONS = {
    "jaro_similarity": "kontor_jaro_similarity",
    "jaro_winkler_similarity": "kontor_jaro_winkler_similarity",
    "damerau_levenshtein": "kontor_damerau_levenshtein",
}


def jaro_similarity(p: str, t: str) -> float:
    """DuckDB's ``jaro_similarity``: 0.0 when either string is empty (also both)."""
    p_len, t_len = len(p), len(t)
    if not p_len or not t_len:
        return 0.0
    if p_len == 1 and t_len == 1:
        return float(p == t)
    bound = max(p_len, t_len) // 2 - 1
    p_flag = [False] * p_len
    t_flag = [False] * t_len
    common = 0
    for j, ch in enumerate(t):                  # each character of t takes the first free match in p
        for i in range(max(0, j - bound), min(p_len, j + bound + 1)):
            if not p_flag[i] and p[i] == ch:
                p_flag[i] = t_flag[j] = True
                common += 1
                break
    if not common:
        return 0.0
    p_matched = [c for c, f in zip(p, p_flag) if f]
    t_matched = [c for c, f in zip(t, t_flag) if f]
    transpositions = sum(a != b for a, b in zip(p_matched, t_matched)) // 2
    sim = 0.0
    sim += common / p_len
    sim += common / t_len
    sim += (common - transpositions) / common
    return sim / 3.0


def jaro_winkler_similarity(p: str, t: str) -> float:
    """DuckDB's ``jaro_winkler_similarity``: prefix weight 0.1, prefix up to 4, boost above 0.7."""
    sim = jaro_similarity(p, t)
    if sim > 0.7:
        prefix = 0
        for a, b in zip(p[:4], t[:4]):
            if a != b:
                break
            prefix += 1
        sim = _fma(prefix * 0.1, 1.0 - sim, sim)
    return sim


def _fma(a: float, b: float, c: float) -> float:
    """``a * b + c`` rounded once, as DuckDB's compiled ``sim += prefix * weight * (1 - sim)`` is
    (a fused multiply-add: rounding twice differs in the last bit on about 1 pair in 12,000)."""
    return float(Fraction(a) * Fraction(b) + Fraction(c))


def damerau_levenshtein(a: str, b: str) -> int:
    """DuckDB's ``damerau_levenshtein``: insertions, deletions, substitutions and transpositions
    of adjacent characters, a substring edited more than once allowed (Lowrance-Wagner)."""
    inf = len(a) + len(b)
    last_row: dict[str, int] = {}
    d = [[inf] * (len(b) + 2) for _ in range(len(a) + 2)]
    for i in range(len(a) + 1):
        d[i + 1][0], d[i + 1][1] = inf, i
    for j in range(len(b) + 1):
        d[0][j + 1], d[1][j + 1] = inf, j
    for i in range(1, len(a) + 1):
        last_match_col = 0
        for j in range(1, len(b) + 1):
            i1, j1 = last_row.get(b[j - 1], 0), last_match_col
            cost = 0 if a[i - 1] == b[j - 1] else 1
            if cost == 0:
                last_match_col = j
            d[i + 1][j + 1] = min(d[i][j] + cost, d[i + 1][j] + 1, d[i][j + 1] + 1,
                                  d[i1][j1] + (i - i1 - 1) + 1 + (j - j1 - 1))
        last_row[a[i - 1]] = i
    return d[len(a) + 1][len(b) + 1]


def register(session: "SparkSession") -> str:
    """Register Kontor's functions (``FUNCTIONS``' values) in ``session``, NULL in, NULL out: the
    jar's Java UDFs ("java") if the session can load them, else the pandas UDFs ("pandas"), which
    give the same values slower; the log says once per process why."""
    reason = _register_java(session)
    if reason is None:
        return "java"
    message = ("Kontor's string functions on Spark are pandas UDFs, evaluated in Python workers (much "
               f"slower than the Java UDFs, the same values): {reason}")
    if message not in _SAID:
        _SAID.add(message)
        LOG.warning(message)
    _register_pandas(session)
    return "pandas"


def _register_java(session: "SparkSession") -> str | None:
    """The jar's functions registered in ``session``; None, or why not."""
    from pyspark.sql.types import DoubleType, IntegerType

    from pipelines.engines.spark_jar import CLASSES, functions_jar

    jar = functions_jar()
    if jar.path is None:
        return jar.reason

    def attempt() -> None:
        for name, (java_class, kind) in CLASSES.items():
            session.udf.registerJavaFunction(name, java_class, DoubleType() if kind == "double" else IntegerType())

    try:
        attempt()
        return None
    except Exception as exc:  # noqa: BLE001 - Spark's error says which class it could not load
        error = exc
    if _is_connect(session):
        # a Spark Connect session that was not started by start_session: upload the jar now
        try:
            session.addArtifacts(str(jar.path))
            attempt()
            return None
        except Exception as exc:  # noqa: BLE001
            error = exc
    first = str(error).strip().splitlines()[0][:300] if str(error).strip() else type(error).__name__
    return (f"the session cannot load {jar.path.name} ({first}); fix: start the session with "
            "pipelines.engines.spark_session.start_session, or give it the jar (spark.jars)")


def _is_connect(session: "SparkSession") -> bool:
    try:
        from pyspark.sql.connect.session import SparkSession as ConnectSession
    except ImportError:     # pyspark without Spark Connect's client dependencies
        return False
    return isinstance(session, ConnectSession)


def _register_pandas(session: "SparkSession") -> None:
    import sys

    import pandas as pd
    from pyspark import cloudpickle
    from pyspark.sql.functions import pandas_udf

    # the functions travel with the UDF (by value): Spark's Python workers need pandas and
    # pyarrow, not Kontor
    cloudpickle.register_pickle_by_value(sys.modules[__name__])

    def vectorised(fn, kind):
        def apply(left, right):
            values = [fn(x, y) if isinstance(x, str) and isinstance(y, str) else None
                      for x, y in zip(left.astype(object), right.astype(object))]
            return pd.Series(values, dtype="Float64" if kind == "double" else "Int32")
        apply.__annotations__ = {"left": pd.Series, "right": pd.Series, "return": pd.Series}   # pyspark reads the hints
        return pandas_udf(apply, kind)

    for duck, kontor in FUNCTIONS.items():
        fn = {"jaro_similarity": jaro_similarity, "jaro_winkler_similarity": jaro_winkler_similarity,
              "damerau_levenshtein": damerau_levenshtein}[duck]
        session.udf.register(kontor, vectorised(fn, "int" if duck == "damerau_levenshtein" else "double"))
