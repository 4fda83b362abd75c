"""DuckDB's string-similarity functions on Spark, under Kontor's own names.

Spark 4's builtin ``jaro_winkler_similarity`` gives other values than DuckDB's on about half of
all name pairs, and a temporary function cannot shadow a builtin; Splink's jar differs too. So the
rewrite layer (``spark_rules.kontor_functions``) writes DuckDB's ``jaro_similarity``,
``jaro_winkler_similarity`` and ``damerau_levenshtein`` as ``kontor_*`` functions, registered here
as pandas UDFs (Arrow batches; no jar, so they work over Spark Connect as well).

The algorithms are DuckDB's (its vendored rapidfuzz Jaro-Winkler; Damerau-Levenshtein with
adjacent transpositions, unrestricted edits), on Unicode code points, with DuckDB's arithmetic in
the same order so that the doubles are bit-identical: ``tests/engines/test_spark_functions.py``
compares them with DuckDB on every pair of a word list, and on Spark.
"""
from __future__ import annotations

from fractions import Fraction
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

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


def register(session: "SparkSession") -> None:
    """Register Kontor's functions (``FUNCTIONS``' values) in ``session``; NULL in, NULL out."""
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
