"""What the gaps left by the third batch and the fourth batch of public dbt-duckdb projects tried
with benchmarks/dbt_projects.py needed (benchmarks/README.md, "A fourth batch"), each on a small
project written here:

- a model whose SQL does not parse fails when it runs and skips what is below it, the rest of the
  project builds (dbt 1.11 parses Jinja, not SQL: checked with dbt-duckdb on the same fixture,
  ``ERROR creating sql view model main.broken`` (DuckDB's parser error), ``SKIP relation main.below``); before: the whole
  project was refused;
- a top-level key dbt does not know in a properties file (``tests:``) is ignored with a warning, as
  dbt ignores it; before: refused;
"""
from __future__ import annotations

from pathlib import Path

import dagster as dg
import duckdb

from pipelines.core.settings import load_settings
from pipelines.definitions import ALL_JOB, build_definitions

PROFILE = "shop:\n  target: dev\n  outputs:\n    dev:\n      type: duckdb\n      path: warehouse.duckdb\n"


def write(root: Path, files: dict[str, str]) -> None:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")


def shop(tmp_path: Path, files: dict[str, str]) -> Path:
    root = tmp_path / "shop"
    write(root, {
        "dbt_project.yml": "name: shop\nconfig-version: 2\nprofile: shop\n",
        "profiles.yml": PROFILE,
        "seeds/orders.csv": "id,amount\n1,10\n2,25\n",
        **files,
    })
    return root


def run_all(root: Path, tmp_path: Path, success: bool = True):
    settings = load_settings(root, env={"HOME": str(tmp_path)})
    result = build_definitions(settings).resolve_job_def(ALL_JOB).execute_in_process(
        instance=dg.DagsterInstance.ephemeral(), raise_on_error=False)
    assert result.success is success, [e.message for e in result.all_events if e.is_failure]
    return result


def relations(root: Path) -> set[str]:
    con = duckdb.connect(str(root / "warehouse.duckdb"), read_only=True)
    try:
        return {f"{s}.{n}" for s, n in con.execute(
            "select table_schema, table_name from information_schema.tables where table_schema = 'main'").fetchall()}
    finally:
        con.close()


def checks(result) -> dict[str, bool]:
    return {e.event_specific_data.check_name: e.event_specific_data.passed
            for e in result.all_events if e.event_type_value == "ASSET_CHECK_EVALUATION"}


BROKEN = {
    "models/good.sql": "select id, amount from {{ ref('orders') }}\n",
    "models/broken.sql": "select (id, amount\nfrom {{ ref('orders') }}\n",
    "models/below.sql": "select * from {{ ref('broken') }}\n",
    "models/good_below.sql": "select * from {{ ref('good') }}\n",
    "models/props.yml": "version: 2\nmodels:\n  - name: broken\n    columns:\n      - name: id\n"
                        "        data_tests: [not_null]\n  - name: good\n    columns:\n      - name: id\n"
                        "        data_tests: [not_null]\n",
}


def test_a_model_whose_sql_does_not_parse_fails_alone_when_it_runs(tmp_path):
    root = shop(tmp_path, BROKEN)
    result = run_all(root, tmp_path, success=False)
    assert relations(root) == {"main.orders", "main.good", "main.good_below"}
    failed = " ".join(str(e.event_specific_data.error.message) for e in result.all_events if e.is_step_failure)
    assert "main/broken: Parser Error: syntax error" in failed, failed     # DuckDB's words, as dbt shows them
    assert checks(result) == {"not_null_good_id": True}     # broken's test is skipped, as in dbt


def test_kontor_check_names_the_syntax_error_as_a_warning(tmp_path):
    from pipelines.check import check_project

    root = shop(tmp_path, BROKEN)
    problems, summary = check_project(load_settings(root, env={"HOME": str(tmp_path)}))
    assert problems == []
    assert "warning: models/broken.sql:2: SQL syntax error" in summary, summary


def test_an_unknown_top_level_key_of_a_properties_file_is_ignored_as_dbt_ignores_it(tmp_path):
    """michaelkrot/dbt-duckdb-data: a ``tests:`` written at the top level of a properties file; dbt
    ignores it (its test never runs) and builds the project; before: refused at that line."""
    from pipelines.check import check_project

    root = shop(tmp_path, {
        "models/good.sql": "select id, amount from {{ ref('orders') }}\n",
        "models/props.yml": "version: 2\nmodels:\n  - name: good\n    columns:\n      - name: id\n"
                            "        data_tests: [not_null]\n\ntests:\n  - unique:\n      column_name: amount\n",
    })
    result = run_all(root, tmp_path)
    assert checks(result) == {"not_null_good_id": True}
    problems, summary = check_project(load_settings(root, env={"HOME": str(tmp_path)}))
    assert problems == []
    assert "warning: models/props.yml:8: unknown top-level key 'tests'" in summary, summary
