"""Every SQL template of a stage (``pipelines/<stage>/sql/*.sql``) is SQL sqlglot reads in its
dialect, so an engine can transpile it; and ``render`` fills a template's names, never its values."""
from __future__ import annotations

from pathlib import Path

import duckdb
import pytest
import sqlglot
from sqlglot import exp

from pipelines.core.sql import render, statements, table_expr, template

REPO = Path(__file__).resolve().parents[1]
TEMPLATES = sorted(p for p in (REPO / "pipelines").glob("*/sql/*.sql"))
# the state store's schema: plpgsql and SQLite triggers, which sqlglot passes through as commands
BACKEND_SCHEMAS = {"state_postgres.sql", "state_sqlite.sql"}


def test_the_stages_have_templates():
    stages = {p.parent.parent.name for p in TEMPLATES}
    assert {"core", "quality", "reports", "stewards", "entities"} <= stages


@pytest.mark.parametrize("path", [p for p in TEMPLATES if p.name not in BACKEND_SCHEMAS],
                         ids=lambda p: f"{p.parent.parent.name}/{p.name}")
def test_a_template_is_sql_sqlglot_reads(path: Path):
    dialect = "postgres" if "postgres" in path.name else "sqlite" if "sqlite" in path.name else "duckdb"
    parsed = sqlglot.parse(path.read_text(encoding="utf-8"), dialect=dialect,
                           error_level=sqlglot.ErrorLevel.RAISE)
    kinds = [type(e).__name__ for e in parsed if e is not None]
    assert kinds and "Command" not in kinds, (path.name, kinds)


def test_render_quotes_names_and_leaves_values_bound():
    con = duckdb.connect()
    con.execute("create schema entities")
    con.execute("create table entities.\"o'brien queue\" as select * from (values ('open'), ('open'), ('done')) v(status)")
    sql = render("select count(*) from :queue where status = ?", queue=table_expr("entities.o'brien queue"))
    assert con.execute(sql, ["open"]).fetchone()[0] == 2
    assert "open" not in sql


def test_a_whole_table_takes_a_table_s_place_with_its_alias():
    sql = render("select q.a from :queue as q join :other using (k)",
                 queue=exp.table_("customer_review_queue", db="entities"), other="x y")
    assert sql == 'SELECT q.a FROM entities.customer_review_queue AS q JOIN "x y" USING (k)'


def test_a_list_is_spliced_into_the_list_its_placeholder_stands_in():
    sql = render("select id, :cols, n from t order by :order", cols=["a b", exp.column("c", table="t")],
                 order=[exp.column("x"), exp.Ordered(this=exp.column("y"), desc=True)])
    assert sql == 'SELECT id, "a b", t.c, n FROM t ORDER BY x, y DESC'


def test_a_name_used_twice_is_filled_in_both_places():
    sql = render("select * from t where a <= :edits and b <= :edits", edits=exp.Literal.number(2))
    assert sql == "SELECT * FROM t WHERE a <= 2 AND b <= 2"


def test_a_placeholder_may_share_a_name_with_render_s_own_arguments():
    # sql and dialect are render's positional-only arguments: as keywords they are placeholders
    sql = render("select a, :copy from :sql join :dialect using (k)", sql="s", dialect="d", copy=exp.column("c"))
    assert sql == 'SELECT a, c FROM "s" JOIN "d" USING (k)'
    assert render("select a from :t limit 1", "tsql", t="x") == 'SELECT TOP 1 a FROM [x]'


def test_a_template_is_read_beside_its_module_and_split_like_sqlite_splits():
    from pipelines.core import state

    text = template(state.__file__, "state_sqlite")
    parts = statements(text)
    assert len(parts) == 14 and all(not p.endswith(";") for p in parts)
    assert sum(p.lstrip().startswith("create trigger") or "\ncreate trigger" in p for p in parts) == 8
