"""The command line starts light: what each command loads, the remembered gate verdicts of `kontor check`."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import yaml

from conftest import REPO, make_project
from test_end_to_end import kontor

HEAVY = ("dagster", "splink", "great_expectations", "weasyprint", "duckdb", "pyarrow", "sqlglot", "pandas")

PROBE = """
import sys
from pipelines import cli
try:
    cli.app(sys.argv[1:])
except SystemExit:
    pass
print("LOADED:" + " ".join(m for m in {heavy!r} if m in sys.modules))
"""


def loaded_by(*args: str) -> list[str]:
    done = subprocess.run([sys.executable, "-c", PROBE.format(heavy=HEAVY), *args], capture_output=True, text=True,
                          cwd=REPO, timeout=120)
    assert done.returncode == 0, done.stderr
    return done.stdout.splitlines()[-1].removeprefix("LOADED:").split()


def test_help_loads_nothing_heavy():
    assert loaded_by("--help") == []
    assert loaded_by("query", "--help") == []
    assert loaded_by("steward", "decide", "--help") == []


def test_cli_steward_choices_are_the_engine_s():
    from pipelines.cli import StewardAction as CliAction
    from pipelines.entities.decisions import StewardAction

    assert [a.value for a in CliAction] == [a.value for a in StewardAction]


CHECK_PROBE = """
import sys
from pipelines.check import check_project
from pipelines.core.settings import load_settings
problems, _ = check_project(load_settings(sys.argv[1], env={{}}))
for p in problems:
    print(p)
print("GX loaded" if "great_expectations" in sys.modules else "GX not loaded")
"""


def check_in_subprocess(project: Path) -> list[str]:
    done = subprocess.run([sys.executable, "-c", CHECK_PROBE.format(), str(project)], capture_output=True, text=True,
                          cwd=REPO, timeout=300)
    assert done.returncode == 0, done.stderr
    return done.stdout.splitlines()


def test_check_remembers_verdicts_and_judges_what_changed(tmp_path: Path):
    project = tmp_path / "p"
    make_project(project, with_models=True, with_expectations=True)
    assert check_in_subprocess(project) == ["GX loaded"]          # first check: every suite judged by GX
    assert check_in_subprocess(project) == ["GX not loaded"]      # nothing changed: remembered
    # a broken rule in one file: judged again, the problem on its line, the other files still remembered
    suite_file = project / "expectations" / "marts.fct_invoices.yml"
    original = suite_file.read_text()
    suite = yaml.safe_load(original)
    suite["expectations"].append({"type": "expect_column_values_to_not_be_null", "kwargs": {"column": "net_amont"}})
    suite_file.write_text(yaml.safe_dump(suite, sort_keys=False))
    out = check_in_subprocess(project)
    assert out[-1] == "GX loaded"
    assert len(out) == 2 and out[0].startswith("expectations/marts.fct_invoices.yml:")
    assert "'net_amont'" in out[0] and "net_amount" in out[0]
    # the same broken file again: the same problem, remembered
    assert check_in_subprocess(project) == [out[0], "GX not loaded"]
    suite_file.write_text(original)   # the edit undone: the first verdict again
    model = project / "models" / "marts" / "fct_payments.sql"
    assert check_in_subprocess(project) == ["GX not loaded"]
    # a model change that drops the column a rule reads: the rule's verdict is not reused
    model.write_text(model.read_text().replace("payments.amount,", "payments.amount as paid_amount,"))
    out = check_in_subprocess(project)
    assert any(line.startswith("expectations/marts.fct_payments.yml:6:") and "'amount'" in line for line in out), out


def test_dagster_notices_are_not_shown(tmp_path: Path):
    settings = make_project(tmp_path / "p", """
sources:
  - name: shop
    format: {type: csv, delimiter: ";"}
    tables:
      - name: good
        location: good.csv
        columns: [{name: id, data_type: integer}, {name: label}]
""")
    (settings.data_dir / "good.csv").write_text("id;label\n1;a\n2;b\n")
    ran = kontor(settings.project_dir, "run", "--select", "group:raw")
    assert ran.returncode == 0, ran.stderr
    assert "Warning" not in ran.stderr and "raw/shop__good" in ran.stderr


def test_check_answers_from_the_last_check_while_no_file_changed(tmp_path: Path):
    project = tmp_path / "p"
    make_project(project, with_models=True)
    first = kontor(project, "check")
    assert first.returncode == 0 and "no problems" in first.stderr and "no file changed" not in first.stderr
    again = kontor(project, "check")
    assert again.returncode == 0 and "no problems (no file changed since the last check)" in again.stderr
    model = project / "models" / "marts" / "fct_payments.sql"
    model.write_text(model.read_text().replace("from", "frm", 1))       # a broken model: judged again
    broken = kontor(project, "check")
    assert broken.returncode == 1 and "models/marts/fct_payments.sql" in broken.stdout
    assert kontor(project, "check").returncode == 1                      # a failed check is never remembered
