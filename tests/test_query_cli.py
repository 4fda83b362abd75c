"""`kontor query` as an SQL client: full errors, a row cap that counts, honest tables, formats."""
from __future__ import annotations

import csv
import io
import json
from decimal import Decimal
from pathlib import Path

import duckdb
import pytest

from conftest import make_project
from pipelines.analysts.output import format_value
from pipelines.analysts.query import fetch
from test_end_to_end import kontor

LONG_ID = "DE89370400440532013000-" + "x" * 70  # longer than any terminal column


@pytest.fixture(scope="module")
def project(tmp_path_factory) -> Path:
    """A project whose serving copy holds a few hundred rows of awkward values."""
    root = tmp_path_factory.mktemp("q")
    settings = make_project(root)
    settings.target_dir.mkdir(parents=True, exist_ok=True)
    con = duckdb.connect(str(settings.serving_path))
    con.execute("create schema marts")
    con.execute("""
        create table marts.sales as
        select range::bigint as order_no, 2020 + (range % 7)::integer as year,
               (range * 1234567)::bigint as amount, (range / 3)::decimal(14, 2) as net,
               case when range = 0 then ? else 'id-' || range end as ref,
               case when range % 50 = 0 then null else 'a|b' || chr(10) || 'c' end as note
        from range(250)
    """, [LONG_ID])
    con.close()
    return root


def test_row_cap_counts_the_rest(project: Path):
    shown = kontor(project, "query", "select * from marts.sales order by order_no")
    assert shown.returncode == 0, shown.stderr
    assert "showing 100 of 250 rows, use --limit N or --all" in shown.stderr
    assert "99" in shown.stdout and "\n100 " not in shown.stdout
    everything = kontor(project, "query", "select order_no from marts.sales", "--all", "--format", "csv")
    assert len(everything.stdout.splitlines()) == 251 and "showing" not in everything.stderr
    few = kontor(project, "query", "select order_no from marts.sales order by 1", "--limit", "3", "-f", "csv")
    assert few.stdout.splitlines() == ["order_no", "0", "1", "2"]
    assert "showing 3 of 250 rows" in few.stderr


def test_count_without_materialising(tmp_path: Path):
    con = duckdb.connect(str(tmp_path / "x.duckdb"))
    result = fetch(con, "select range as i, range * 2 as j, range * 2 as j from range(3000000)", limit=5)
    assert result.total == 3_000_000 and len(result.rows) == 5 and result.truncated
    assert result.columns == ["i", "j", "j"] and result.rows[1] == (1, 2, 2)   # repeated names kept by position
    assert fetch(con, "set threads = 1").total == 0


def test_duckdb_error_in_full(project: Path):
    typo = kontor(project, "query", "select amont from marts.sales")
    assert typo.returncode == 1 and "Traceback" not in typo.stderr
    assert 'Candidate bindings: "amount"' in typo.stderr
    assert "LINE 1: select amont from marts.sales" in typo.stderr
    caret = typo.stderr.splitlines()[-1]
    assert caret.strip().startswith("^") and caret.index("^") == typo.stderr.splitlines()[-2].index("amont")
    table = kontor(project, "query", "select * from marts.sale")
    assert 'Did you mean "marts.sales"' in table.stderr or 'Did you mean "sales"' in table.stderr
    bracket = kontor(project, "query", "select [1][x] from marts.sales")   # rich markup must not eat it
    assert "[1][x]" in bracket.stderr


def test_table_is_aligned_and_never_cut(project: Path):
    out = kontor(project, "query", "select order_no, year, amount, net, ref from marts.sales order by order_no limit 5")
    lines = out.stdout.splitlines()
    assert LONG_ID in out.stdout                                  # whole, in a pipe: no ellipsis, no fold
    assert "…" not in out.stdout
    row4 = next(line for line in lines if "id-4" in line)
    assert "4,938,268" in row4 and "2024" in row4 and "2,024" not in row4
    header = lines[0]
    # right-aligned: the numbers end where their header ends
    assert row4.index("4,938,268") + len("4,938,268") == header.index("amount") + len("amount")


def test_formats_round_trip(project: Path):
    sql = "select order_no, net, note from marts.sales where order_no in (0, 1, 2) order by 1"
    as_csv = list(csv.reader(io.StringIO(kontor(project, "query", sql, "-f", "csv").stdout)))
    assert as_csv[0] == ["order_no", "net", "note"] and as_csv[1] == ["0", "0.00", ""]
    assert as_csv[2][2] == "a|b\nc"
    as_json = json.loads(kontor(project, "query", sql, "-f", "json").stdout)
    assert as_json[2] == {"order_no": 2, "net": 0.67, "note": "a|b\nc"} and as_json[0]["note"] is None
    md = kontor(project, "query", sql, "-f", "markdown").stdout.splitlines()
    assert md[0] == "| order_no | net | note |" and md[1] == "|---:|---:|---|"
    assert md[3] == "| 1 | 0.33 | a\\|b<br>c |"


def test_format_value_rules():
    assert format_value(Decimal("1234567.50"), "DECIMAL(14,2)", "net") == "1,234,567.50"
    assert format_value(100304, "BIGINT", "customer_no") == "100304"
    assert format_value(100304, "BIGINT", "customer_count") == "100,304"
    assert format_value(None, "BIGINT", "x") == "" and format_value(True, "BOOLEAN", "b") == "true"
