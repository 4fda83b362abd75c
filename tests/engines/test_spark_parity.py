"""Parity: every shipped model gives the same rows on DuckDB and on Spark local[2].

The demo at scale 0.1 runs on DuckDB (sources, staging, entities, marts); the tables the models
read (raw tables, ``__current`` views, the entity stage's golden and xref tables) are copied into
Spark through Parquet, and the staging and marts models are built there from the same compiled
SQL through the engine object. Each model's rows are then compared as multisets, values exactly
and column types by family (a DECIMAL where DuckDB has a DOUBLE is a difference). No tolerance is
declared: none was needed.
"""
from __future__ import annotations

from collections import Counter
from decimal import Decimal

import pyarrow as pa
import pytest

pytestmark = pytest.mark.spark


@pytest.fixture(scope="module")
def built(spark_demo):
    return spark_demo.compiled, spark_demo.duck, spark_demo.engine, spark_demo.models


def _family(t: pa.DataType) -> str:
    for name, test in (("decimal", pa.types.is_decimal), ("integer", pa.types.is_integer),
                       ("floating", pa.types.is_floating), ("string", lambda x: pa.types.is_string(x) or pa.types.is_large_string(x)),
                       ("date", pa.types.is_date), ("timestamp", pa.types.is_timestamp), ("boolean", pa.types.is_boolean),
                       ("list", lambda x: pa.types.is_list(x) or pa.types.is_large_list(x))):
        if test(t):
            return name
    return str(t)


def _value(v):
    if isinstance(v, Decimal):
        return v.normalize()
    if isinstance(v, list):
        return tuple(_value(x) for x in v)
    return v


def _rows(table: pa.Table) -> Counter:
    return Counter(tuple(_value(v) for v in row.values()) for row in table.to_pylist())


def test_every_shipped_model_is_built_on_spark(built):
    compiled, _, engine, models = built
    shipped = {cm.model.relation for cm in compiled.models.values()}
    assert {b.relation for b in models} == shipped
    assert len(shipped) == 26
    on_spark = {f"{r.schema}.{r.name}" for r in engine.tables() if r.schema in ("staging", "marts")}
    assert on_spark == shipped


def test_every_shipped_model_gives_the_same_rows_on_duckdb_and_spark(built):
    compiled, duck, engine, _ = built
    differences = []
    for name in compiled.order:
        relation = compiled.models[name].model.relation
        query = f"select * from {relation}"
        left, right = duck.to_arrow(query), engine.to_arrow(query)
        if left.column_names != right.column_names:
            differences.append(f"{relation}: columns {left.column_names} vs {right.column_names}")
            continue
        types = [(c, _family(left.schema.field(c).type), _family(right.schema.field(c).type)) for c in left.column_names]
        wrong_types = [f"{c} {a} vs {b}" for c, a, b in types if a != b]
        if wrong_types:
            differences.append(f"{relation}: types {wrong_types}")
        l_rows, r_rows = _rows(left), _rows(right)
        if l_rows != r_rows:
            only_l, only_r = l_rows - r_rows, r_rows - l_rows
            differences.append(f"{relation}: {sum(only_l.values())} rows only on DuckDB, {sum(only_r.values())} only on "
                               f"Spark; e.g. {next(iter(only_l), None)} vs {next(iter(only_r), None)}")
        assert left.num_rows > 0 or name in (), f"{relation} is empty on DuckDB: the comparison would prove nothing"
    assert not differences, "\n".join(differences)
