"""Shared bits for the GX-on-DuckDB prototype: test data and the benchmark suite."""
from __future__ import annotations

import os

import duckdb

TMP = os.environ.get("GX_SCRATCH_TMP", "/tmp/gx_scratch")
os.makedirs(f"{TMP}/duck_tmp", exist_ok=True)


def connect(path: str | None = None, threads: int = 2, read_only: bool = False) -> duckdb.DuckDBPyConnection:
    con = duckdb.connect(path or ":memory:", read_only=read_only)
    con.execute(f"SET temp_directory='{TMP}/duck_tmp'")
    con.execute("SET max_temp_directory_size='4GB'")
    con.execute("SET memory_limit='6GB'")
    con.execute(f"SET threads={threads}")
    return con


# Deterministic synthetic 'invoices' table with nulls, duplicates, out-of-range values,
# regex/format failures and pair violations so every unexpected count is non-trivial.
GEN_SQL = """
CREATE OR REPLACE TABLE {table} AS
SELECT
  -- every 1000th id repeats its predecessor -> duplicates (2 rows per duplicated value)
  CASE WHEN i % 1000 = 999 THEN i - 1 ELSE i END::BIGINT                    AS id,
  CASE WHEN i % 97 = 0 THEN NULL ELSE 'C' || lpad(((i * 7919) % 100000)::VARCHAR, 6, '0') END
                                                                              AS customer_id,
  CASE WHEN i % 50 = 0 THEN NULL
       WHEN i % 333 = 0 THEN 'user' || i::VARCHAR || '@@example'
       WHEN i % 777 = 0 THEN 'USER' || i::VARCHAR || '@EXAMPLE.COM'
       ELSE 'user' || i::VARCHAR || '@example.com' END                         AS email,
  CASE WHEN i % 101 = 0 THEN NULL
       WHEN i % 211 = 0 THEN -((i % 500) + 1)::DOUBLE
       ELSE ((i * 37) % 1000000) / 100.0 END                                  AS amount,
  CASE WHEN i % 61 = 0 THEN NULL
       WHEN i % 89 = 0 THEN 'unknown'
       ELSE ['open', 'paid', 'cancelled'][1 + (i % 3)::INT] END               AS status,
  CASE WHEN i % 401 = 0 THEN 'DEU' WHEN i % 43 = 0 THEN NULL
       ELSE ['DE', 'AT', 'CH', 'FR'][1 + (i % 4)::INT] END                    AS country,
  CASE WHEN i % 59 = 0 THEN NULL
       WHEN i % 503 = 0 THEN '2024-13-' || lpad((1 + i % 28)::VARCHAR, 2, '0')
       WHEN i % 509 = 0 THEN '2024/01/05'
       ELSE strftime(DATE '2020-01-01' + (i % 1500)::INT, '%Y-%m-%d') END     AS created_on,
  CASE WHEN i % 4999 = 0 THEN NULL ELSE 'CC' || ((i // 14) % 7)::VARCHAR END AS company_code,
  CASE WHEN i % 3001 = 0 THEN NULL WHEN i % 2000 = 1999 THEN i - 1 ELSE i END::BIGINT AS doc_no,
  -- DOUBLE, not BIGINT: GX's pandas engine crashes on nullable Int64 pairs (see FINDINGS)
  CASE WHEN i % 131 = 0 THEN NULL ELSE (i % 100000)::DOUBLE END              AS qty_ordered,
  CASE WHEN i % 137 = 0 THEN NULL
       WHEN i % 149 = 0 THEN (i % 100000)::DOUBLE + 5
       ELSE (i % 100000)::DOUBLE - (i % 3) END                                AS qty_shipped
FROM range({n}) t(i)
"""


def generate(con, n: int, table: str = "invoices") -> None:
    con.execute(GEN_SQL.format(table=table, n=n))


# The benchmark suite (10 expectations). Kontor-style rule dicts: type + kwargs (+severity).
SUITE_10 = [
    {"type": "expect_column_values_to_not_be_null", "kwargs": {"column": "customer_id"}},
    {"type": "expect_column_values_to_be_unique", "kwargs": {"column": "id"}},
    {"type": "expect_column_values_to_be_between",
     "kwargs": {"column": "amount", "min_value": 0, "max_value": 10000, "mostly": 0.99}},
    {"type": "expect_column_values_to_match_regex",
     "kwargs": {"column": "email", "regex": r"^[a-z0-9._%+-]+@[a-z0-9.-]+\.[a-z]{2,}$"}},
    {"type": "expect_column_values_to_be_in_set",
     "kwargs": {"column": "status", "value_set": ["open", "paid", "cancelled"], "mostly": 0.95}},
    {"type": "expect_column_value_lengths_to_be_between",
     "kwargs": {"column": "country", "min_value": 2, "max_value": 2}},
    {"type": "expect_table_row_count_to_be_between", "kwargs": {"min_value": 1000, "max_value": 20_000_000}},
    {"type": "expect_column_mean_to_be_between",
     "kwargs": {"column": "amount", "min_value": 4000, "max_value": 6000}},
    {"type": "expect_compound_columns_to_be_unique", "kwargs": {"column_list": ["company_code", "doc_no"]}},
    {"type": "expect_column_pair_values_a_to_be_greater_than_b",
     "kwargs": {"column_A": "qty_ordered", "column_B": "qty_shipped", "or_equal": True, "mostly": 0.99}},
]

STRFTIME = {"type": "expect_column_values_to_match_strftime_format",
            "kwargs": {"column": "created_on", "strftime_format": "%Y-%m-%d"}}
