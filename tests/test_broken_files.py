"""A broken project file breaks only itself: the code location (``defs``) still loads, every other
asset and the steward job still work, and the broken file's asset fails with its ``file:line``."""
from __future__ import annotations

import shutil

import dagster as dg
import duckdb
import pytest

from conftest import REPO, make_project
from pipelines.definitions import build_definitions
from pipelines.core.errors import ProjectError


@pytest.fixture()
def broken(tmp_path):
    settings = make_project(tmp_path / "p", with_models=True, with_expectations=True)
    shutil.copytree(REPO / "reports", settings.project_dir / "reports")
    root = settings.project_dir
    # an independent healthy model: it reads nothing, so it can be built here
    (root / "models" / "marts" / "healthy_answer.sql").write_text("select 42 as answer\n")
    # 1. a typo in a staging model's SQL (line 3)
    stg = root / "models" / "staging" / "stg_crm__accounts.sql"
    stg.write_text("-- broken on purpose\n\nselect from from where\n")
    # 2. an entity file with an unknown key
    (root / "models" / "entities" / "supplier.yml").write_text(
        (root / "models" / "entities" / "supplier.yml").read_text() + "\nbogus_key: 1\n")
    # 3. an expectation file that is no mapping
    (root / "expectations" / "marts.fct_orders.yml").write_text("- just\n- a list\n")
    # 4. a report whose settings are broken
    report = root / "reports" / "daily_summary" / "report.yml"
    report.write_text(report.read_text().replace("grain: day", "grain: fortnight"))
    return settings


def _fail_text(defs: dg.Definitions, key: dg.AssetKey, settings) -> str:
    # selection: a model's assets definition is the whole model layer (one step for every model)
    result = dg.materialize([defs.resolve_assets_def(key)], selection=[key], instance=dg.DagsterInstance.ephemeral(),
                            raise_on_error=False)
    assert not result.success
    [failure] = [e for e in result.all_events if e.event_type_value == "STEP_FAILURE"]
    return failure.step_failure_data.user_failure_data.description


def test_the_code_location_loads_around_broken_files(broken):
    settings = broken
    with pytest.raises(ProjectError):          # kontor run stays strict
        build_definitions(settings)
    defs = build_definitions(settings, strict=False)
    graph = defs.resolve_asset_graph()
    keys = {k.to_user_string() for a in graph.assets_defs if a.is_executable for k in a.keys}
    # the broken model keeps its key, so what reads it still depends on it
    assert "staging/stg_crm__accounts" in keys
    assert dg.AssetKey(["staging", "stg_crm__accounts"]) in graph.get(dg.AssetKey(["entities", "customer_standardised"])).parent_keys
    problems = sorted(k for k in keys if k.startswith("problems/"))
    # the supplier gate has no asset while the supplier entity is broken: it says so too
    assert problems == ["problems/expectations_entities_supplier_golden_yml", "problems/expectations_marts_fct_orders_yml",
                        "problems/models_entities_supplier_yml", "problems/reports_daily_summary_report_yml"], problems
    # every other entity, report and gate is still there; the steward job too
    assert "entities/customer_golden" in keys and "entities/supplier_golden" not in keys
    assert "reports/monthly_pack" in keys and "reports/daily_summary" not in keys
    assert defs.resolve_job_def("steward_decision") is not None
    checks = {k.name for c in defs.asset_checks or [] for k in c.check_keys}
    assert checks and not any(k for c in defs.asset_checks for k in c.check_keys if k.asset_key.path == ["marts", "fct_orders"])

    # a healthy asset builds; the broken ones fail naming file and line
    healthy = dg.materialize([defs.resolve_assets_def(dg.AssetKey(["marts", "healthy_answer"]))],
                             selection=[dg.AssetKey(["marts", "healthy_answer"])], instance=dg.DagsterInstance.ephemeral())
    assert healthy.success
    con = duckdb.connect(str(settings.warehouse_path), read_only=True)
    assert con.execute("select answer from marts.healthy_answer").fetchall() == [(42,)]
    con.close()
    assert "models/staging/stg_crm__accounts.sql:3" in _fail_text(defs, dg.AssetKey(["staging", "stg_crm__accounts"]), settings)
    assert "models/entities/supplier.yml:" in _fail_text(defs, dg.AssetKey(["problems", "models_entities_supplier_yml"]), settings)
    assert "bogus_key" in _fail_text(defs, dg.AssetKey(["problems", "models_entities_supplier_yml"]), settings)
    assert "fortnight" in _fail_text(defs, dg.AssetKey(["problems", "reports_daily_summary_report_yml"]), settings)
