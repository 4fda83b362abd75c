"""``kontor check`` with ``engine = "spark"`` (pipelines/engines/explain.py): every transpiled model
planned by Spark against an empty catalog; what Spark cannot plan is reported at ``file:line``."""
from __future__ import annotations

import pytest

from conftest import make_project
from pipelines.definitions import compile_models
from pipelines.engines.explain import PREFIX, explain_problems

pytestmark = pytest.mark.spark


def test_every_shipped_model_is_planned_by_spark_and_a_function_spark_lacks_is_reported(spark, tmp_path):
    settings = make_project(tmp_path, with_models=True)
    assert explain_problems(compile_models(settings), session=spark) == []
    # sqlglot writes strip_accents through unchanged; Spark has no such function
    (tmp_path / "models" / "staging" / "stg_odd.sql").write_text(
        "-- names without accents\n"
        "select\n"
        "    account_id,\n"
        "    strip_accents(account_name) as plain_name\n"
        "from {{ source('crm', 'accounts__current') }}\n")
    (tmp_path / "models" / "marts" / "odd_names.sql").write_text("select plain_name from {{ ref('stg_odd') }}\n")
    problems = explain_problems(compile_models(settings), session=spark)
    assert [(p.file, p.line) for p in problems] == [("models/staging/stg_odd.sql", 4)]   # not the model reading it
    assert "STRIP_ACCENTS" in problems[0].message and PREFIX not in problems[0].message
    assert not [d.name for d in spark.catalog.listDatabases() if d.name.startswith(PREFIX)]


def test_a_difference_of_dates_spark_makes_an_interval_is_reported_at_its_line(spark, tmp_path):
    """DuckDB counts the days of ``date - date``; Spark makes an INTERVAL DAY. The rule
    (``spark_rules.date_difference``) writes DATEDIFF where both sides are visibly dates; where
    they are columns, the model's column is an interval on Spark only, and check says so."""
    settings = make_project(tmp_path, with_models=True)
    (tmp_path / "models" / "staging" / "stg_ages.sql").write_text(
        "with d as (select account_id, cast(created_at as date) as created_on from {{ source('crm', 'accounts__current') }})\n"
        "select\n"
        "    account_id,\n"
        "    current_date - cast(created_on as date) as days_by_rule,\n"
        "    current_date - created_on as days_open\n"
        "from d\n")
    problems = explain_problems(compile_models(settings), session=spark)
    assert [(p.file, p.line) for p in problems] == [("models/staging/stg_ages.sql", 5)]
    assert problems[0].message.startswith("column days_open is an interval on Spark and a number on DuckDB")
