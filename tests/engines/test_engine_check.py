"""``kontor check`` with ``engine = "spark"``: every model transpiled, ``file:line`` for what is not."""
from __future__ import annotations

import dagster as dg
import pytest

from conftest import make_project
from pipelines.check import check_project
from pipelines.core.settings import load_settings


def _spark_project(tmp_path, extra: str = ""):
    make_project(tmp_path, with_models=True)
    pyproject = tmp_path / "pyproject.toml"
    pyproject.write_text(pyproject.read_text() + 'engine = "spark"\n' + extra)
    return load_settings(tmp_path, env={})


def test_the_shipped_models_all_transpile_to_spark(tmp_path):
    problems, summary = check_project(_spark_project(tmp_path))
    assert problems == [], "\n".join(map(str, problems))
    assert "26 models" in summary


def test_a_construct_spark_cannot_run_is_reported_at_its_line(tmp_path):
    settings = _spark_project(tmp_path)
    (tmp_path / "models" / "staging" / "stg_odd.sql").write_text(
        "-- a pattern taken from a column\n"
        "select\n"
        "    account_id,\n"
        "    regexp_replace(account_name, industry, '') as cleaned\n"
        "from {{ source('crm', 'accounts__current') }}\n")
    problems, _ = check_project(settings)
    assert [str(p) for p in problems] == [
        "models/staging/stg_odd.sql:4: cannot run on Spark: regexp_replace with a computed pattern, "
        "replacement or options is not translated to Spark"]


def test_an_unknown_engine_or_spark_key_is_refused_with_a_suggestion(tmp_path):
    settings = make_project(tmp_path / "a", with_models=True)
    pyproject = tmp_path / "a" / "pyproject.toml"
    pyproject.write_text(pyproject.read_text() + 'engine = "sparc"\n')
    problems, _ = check_project(load_settings(tmp_path / "a", env={}))
    assert [str(p) for p in problems] == [
        "pyproject.toml:5: [tool.kontor]: engine = 'sparc' is not an engine; did you mean 'spark'?; fix: write \"duckdb\" or \"spark\""]
    settings = _spark_project(tmp_path / "b", '\n[tool.kontor.spark]\nmastr = "local[2]"\n')
    problems, _ = check_project(settings)
    assert [str(p) for p in problems] == [
        "pyproject.toml:8: [tool.kontor.spark]: unknown key 'mastr'; did you mean 'master'?"]


@pytest.mark.parametrize("flag", ["train", "resolve"])
def test_the_entity_steps_on_spark_are_booleans_and_off_by_default(tmp_path, flag):
    from pipelines.engines.spark_session import spark_config

    assert getattr(spark_config(_spark_project(tmp_path / "default")), flag) is False
    on = spark_config(_spark_project(tmp_path / "on", f'\n[tool.kontor.spark]\n{flag} = true\n'))
    assert (on.train, on.resolve) == (flag == "train", flag == "resolve")
    problems, _ = check_project(_spark_project(tmp_path / "bad", f'\n[tool.kontor.spark]\n{flag} = "yes"\n'))
    assert [str(p) for p in problems] == [
        f"pyproject.toml:7: [tool.kontor.spark]: {flag} = 'yes'; fix: write true or false"]


def test_resolve_on_spark_takes_the_spark_resource_only_when_set(tmp_path):
    from pipelines.definitions import build_definitions

    def resolve_resources(settings) -> set[str]:
        defs = build_definitions(settings)
        node = defs.resolve_assets_def(dg.AssetKey(["entities", "supplier_golden"]))
        return set(node.required_resource_keys)

    assert "spark" not in resolve_resources(_spark_project(tmp_path / "off"))
    assert "spark" in resolve_resources(_spark_project(tmp_path / "on", "\n[tool.kontor.spark]\nresolve = true\n"))


def test_the_spark_resource_is_configured_from_the_project(tmp_path):
    settings = _spark_project(tmp_path, '\n[tool.kontor.spark]\nmaster = "local[1]"\nconf = {"spark.sql.shuffle.partitions" = "3"}\n')
    from pipelines.definitions import build_definitions

    resource = build_definitions(settings).resources["spark"]
    config = resource.config()
    assert (config.master, config.remote, config.conf) == ("local[1]", None, {"spark.sql.shuffle.partitions": "3"})
    assert config.warehouse_dir == str(settings.target_dir / "spark" / "warehouse")
    settings = _spark_project(tmp_path / "connect")
    env_settings = load_settings(tmp_path / "connect", env={"KONTOR_SPARK_REMOTE": "sc://spark.example:15002/;token=secret"})
    assert "spark" not in build_definitions(make_project(tmp_path / "duck", with_models=True)).resources
    resource = build_definitions(env_settings).resources["spark"]
    assert "secret" not in repr(resource)        # an EnvVar, resolved only when the run starts


def test_a_duckdb_file_reader_is_refused_at_its_line(tmp_path):
    # as inato/dbt-duckdb-starter's stg_sponsors: Spark SQL has no reader that sniffs a CSV's header and types
    settings = _spark_project(tmp_path)
    (tmp_path / "models" / "staging" / "stg_sponsors.sql").write_text(
        "with source as (\n"
        "  -- the seed read directly\n"
        "  select * from read_csv_auto('seeds/raw_sponsors.csv')\n"
        ")\n"
        "select * from source\n")
    problems, _ = check_project(settings)
    assert [str(p) for p in problems] == [
        "models/staging/stg_sponsors.sql:3: cannot run on Spark: read_csv_auto(...) (DuckDB's file reader) is not "
        "translated to Spark: Spark SQL has no reader that sniffs a file's columns and types as DuckDB's does; "
        "load the file as a seed or a source"]
