"""``model_lineage`` traces all columns of a model in one sqlglot pass; its answer must be exactly
what tracing each column on its own (``upstream``, which ``kontor lineage`` uses) gives, on the
shipped project and on the dbt-compat fixture, and where the one pass cannot key a column."""
from __future__ import annotations

import shutil
import textwrap
from pathlib import Path

import pytest

from conftest import make_project
from pipelines.definitions import compile_models
from pipelines.models import lineage
from pipelines.models.lineage import ColumnRef, model_lineage, upstream
from pipelines.core.settings import load_settings

FIXTURE = Path(__file__).resolve().parent.parent / "fixtures" / "dbt_project"


def _column_by_column(compiled, model: str) -> dict[str, list[ColumnRef]]:
    return {col: upstream(compiled, model, col) for col in compiled.output_columns(model) or []}


@pytest.mark.parametrize("project", ["shipped", "dbt_fixture"])
def test_one_pass_equals_column_by_column(tmp_path: Path, project: str):
    if project == "shipped":
        settings = make_project(tmp_path / "project", with_models=True)
    else:
        shutil.copytree(FIXTURE, tmp_path / "project")
        settings = load_settings(tmp_path / "project", env={})
    compiled = compile_models(settings)
    traced = 0
    for name in compiled.order:
        assert model_lineage(compiled, name) == _column_by_column(compiled, name), name
        traced += sum(bool(refs) for refs in model_lineage(compiled, name).values())
    assert traced > 20          # the comparison is about real lineage, not empty lists


def test_a_column_the_one_pass_cannot_key_is_traced_on_its_own(tmp_path: Path, monkeypatch):
    settings = make_project(tmp_path / "project")
    model = tmp_path / "project" / "models" / "staging" / "stg_accounts.sql"
    model.parent.mkdir(parents=True)
    model.write_text(textwrap.dedent("""
        select account_id, upper(account_name) as "Account Name", country
        from {{ source('crm', 'accounts') }}
        """))
    compiled = compile_models(settings)
    expected = _column_by_column(compiled, "stg_accounts")
    assert expected["Account Name"] == [ColumnRef("raw", "crm__accounts", "account_name")]

    # The one pass fails outright: every column is traced on its own, none is lost.
    real = lineage._lineage

    def failing_for_all_columns(compiled, model, column):
        if column is None:
            raise RuntimeError("sqlglot cannot trace this query in one pass")
        return real(compiled, model, column)

    monkeypatch.setattr(lineage, "_lineage", failing_for_all_columns)
    assert model_lineage(compiled, "stg_accounts") == expected


def test_the_lineage_cache_is_reused_until_a_file_changes(tmp_path: Path):
    root = tmp_path / "project"
    shutil.copytree(FIXTURE, root)
    settings = load_settings(root, env={})
    first = compile_models(settings)
    expected = {name: model_lineage(first, name) for name in first.order}
    for name in first.order:
        assert first.lineage.get(name) == expected[name]
    first.lineage.save()
    assert (settings.target_dir / "column_lineage.json").is_file()

    again = compile_models(settings)                 # a new run, the files unchanged: read, not computed
    assert set(again.lineage.entries) == set(expected)
    assert {name: again.lineage.get(name) for name in again.order} == expected
    assert not again.lineage.dirty

    orders = root / "models" / "marts" / "orders.sql"
    orders.write_text(orders.read_text().replace("select * from final", "select *, 1 as extra_one from final"))
    changed = compile_models(settings)              # any file changed: everything computed afresh
    assert changed.lineage.entries == {}
    assert "extra_one" in changed.lineage.get("orders")


def test_a_second_compile_builds_no_tree_until_one_is_read(tmp_path: Path):
    # pipelines/core/parsed.py remembers each model's parse in target/: a later compile (a run's
    # definitions) tells from it that the SQL is one query, and builds the tree only when read.
    root = tmp_path / "project"
    shutil.copytree(FIXTURE, root)
    settings = load_settings(root, env={})
    first = compile_models(settings)
    again = compile_models(settings)
    deferred = [name for name, cm in again.models.items() if cm.deferred is not None]
    assert deferred and all(again.models[name].tree is None for name in deferred)
    for name in first.order:
        if first.models[name].ast is not None:
            assert again.models[name].ast == first.models[name].ast, name
            assert again.models[name].parsed_from == first.models[name].parsed_from
    assert all(again.models[name].deferred is None and again.models[name].tree is not None for name in deferred)
    assert {name: model_lineage(again, name) for name in again.order} == \
        {name: model_lineage(first, name) for name in first.order}

