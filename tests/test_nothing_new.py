"""`kontor run` with nothing new ends at once, per source "skipped (already loaded)", without a
Dagster run; anything a run reads (an extract, a project file, a steward decision, another writer
of the warehouse) makes the next run a real one."""
from __future__ import annotations

import json
from pathlib import Path

import dagster as dg
import pytest

from conftest import make_project
from pipelines.core.settings import load_settings
from pipelines.core.state import StateStore
from test_end_to_end import kontor

SOURCES = """
sources:
  - name: shop
    format: {type: csv, delimiter: ";"}
    tables:
      - name: good
        location: good*.csv
        columns: [{name: id, data_type: integer}, {name: label}]
"""
MODEL = "select id, label from {{ source('shop', 'good') }}\n"


def runs(project: Path) -> int:
    instance = dg.DagsterInstance.from_config(str(project / "target" / "dagster"))
    try:
        return len(instance.get_run_records())
    finally:
        instance.dispose()


def nothing_new(ran) -> bool:
    assert ran.returncode == 0, ran.stderr
    return "nothing new since run" in ran.stderr


@pytest.fixture()
def project(tmp_path: Path) -> Path:
    settings = make_project(tmp_path / "p", SOURCES)
    (settings.project_dir / "models" / "staging").mkdir()
    (settings.project_dir / "models" / "staging" / "stg_goods.sql").write_text(MODEL)
    (settings.data_dir / "good_1.csv").write_text("id;label\n1;a\n2;b\n")
    return settings.project_dir


def test_nothing_new_is_decided_without_a_run(project: Path):
    first = kontor(project, "run")
    assert not nothing_new(first) and "staging/stg_goods" in first.stderr
    record = json.loads((project / "target" / "last_run.json").read_text())
    assert record["assets"]["raw/shop__good"] == "raw" and record["inputs"]["data"] != "absent"
    before = runs(project)

    again = kontor(project, "run")
    assert nothing_new(again)
    assert "- raw/shop__good  skipped (already loaded)" in again.stderr
    assert "staging/stg_goods" not in again.stderr                    # nothing was built
    assert runs(project) == before                                    # and no Dagster run started
    assert nothing_new(kontor(project, "run", "--select", "stg_goods+"))
    wrong = kontor(project, "run", "--select", "stg_good")           # a wrong name is still an error
    assert wrong.returncode == 1 and "did you mean 'staging/stg_goods'?" in wrong.stderr

    forced = kontor(project, "run", "--force")                        # --force: a real run, all the same
    assert not nothing_new(forced) and "skipped 1 (already loaded)" in forced.stderr
    assert runs(project) == before + 1


def test_what_a_run_reads_makes_the_next_run_real(project: Path):
    assert not nothing_new(kontor(project, "run"))
    assert nothing_new(kontor(project, "run"))

    (project / "data" / "good_2.csv").write_text("id;label\n3;c\n")    # a new extract
    ran = kontor(project, "run")
    assert not nothing_new(ran) and "loaded 1 file(s), 1 rows" in ran.stderr
    assert nothing_new(kontor(project, "run"))

    model = project / "models" / "staging" / "stg_goods.sql"          # a changed model
    model.write_text(MODEL.replace("select id, label", "select id, upper(label) as label"))
    assert not nothing_new(kontor(project, "run"))
    assert nothing_new(kontor(project, "run"))

    assert not nothing_new(kontor(project, "run", "--select", "stg_goods", "--force"))   # another writer
    assert not nothing_new(kontor(project, "run"))
    assert nothing_new(kontor(project, "run"))

    with StateStore.from_settings(load_settings(project, env={})) as store:   # a steward decision
        store.append_decision({"entity": "customer", "action": "distinct", "target_ids": ["crm:1", "erp:2"],
                               "steward": "anna", "status": "active"})
    assert not nothing_new(kontor(project, "run"))


def test_only_what_a_run_reads_counts(project: Path):
    """The project's tests, docs and README are not read by a run: editing them skips it; a file
    in a folder a run reads (a macro) does not."""
    assert not nothing_new(kontor(project, "run"))
    (project / "docs").mkdir()
    (project / "docs" / "notes.md").write_text("# how we run it\n")
    (project / "tests").mkdir()
    (project / "tests" / "test_goods.py").write_text("def test_nothing():\n    pass\n")
    (project / "README.md").write_text("the goods pipeline\n")
    assert nothing_new(kontor(project, "run"))
    (project / "macros").mkdir()
    (project / "macros" / "upper_label.sql").write_text("{% macro upper_label(c) %}upper({{ c }}){% endmacro %}\n")
    assert not nothing_new(kontor(project, "run"))
    assert nothing_new(kontor(project, "run"))


def test_a_run_that_leaves_an_extract_waiting_is_not_complete(project: Path):
    sources = project / "models" / "sources.yml"
    sources.write_text(SOURCES.replace("location: good*.csv", 'location: good*.csv\n        done_marker: "{name}.ok"'))
    (project / "data" / "good_1.csv.ok").write_text("")
    (project / "data" / "good_2.csv").write_text("id;label\n3;c\n")    # its exporter has not finished
    ran = kontor(project, "run")
    assert ran.returncode == 0 and "waiting 1" in ran.stderr, ran.stderr
    assert not (project / "target" / "last_run.json").exists()
    assert not nothing_new(kontor(project, "run"))                     # it is looked at again


def test_the_fingerprint_covers_each_folder_a_run_reads(project: Path):
    from pipelines.core.uptodate import PROJECT_READS, project_fingerprint

    settings = load_settings(project, env={})
    before = project_fingerprint(settings)["project"]
    (project / "docs").mkdir()
    (project / "docs" / "notes.md").write_text("x\n")
    assert project_fingerprint(settings)["project"] == before
    for name in PROJECT_READS:
        path = project / name / "extra.yml" if name.endswith("/") else project / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text((path.read_text() if path.is_file() else "") + "\n# edited\n")
        now = project_fingerprint(settings)["project"]
        assert now != before, name
        before = now
