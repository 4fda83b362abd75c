"""The remembered sqlglot parse (pipelines/core/parsed.py): an edited text is parsed afresh, a
damaged entry is never trusted, a text that does not parse is never remembered."""
from __future__ import annotations

from pathlib import Path

import pytest
import sqlglot

from pipelines.core import parsed


@pytest.fixture()
def folder(tmp_path: Path):
    parsed.remember_in(tmp_path / "sqlglot")
    parsed._trees.clear()
    yield tmp_path / "sqlglot"
    parsed.remember_in(None)
    parsed._trees.clear()


def entries(folder: Path) -> list[Path]:
    return sorted(folder.rglob("*.json"))


def test_a_tree_is_read_back_as_parsed_and_an_edit_is_parsed_afresh(folder: Path):
    sql = "with a as (select id, name from raw.crm__accounts) select id, upper(name) as name from a -- note"
    first = parsed.parse_one(sql)
    assert len(entries(folder)) == 1
    parsed._trees.clear()                                      # a new process: read from the folder
    again = parsed.parse_one(sql)
    assert again == first == sqlglot.parse_one(sql, read="duckdb")
    assert again.sql(pretty=True) == first.sql(pretty=True)
    edited = parsed.parse_one(sql.replace("upper", "lower"))   # another text, another entry
    assert "LOWER(name)" in edited.sql() and len(entries(folder)) == 2
    many = parsed.parse("select 1; select 2")
    assert [t.sql() for t in many] == ["SELECT 1", "SELECT 2"]


def test_callers_get_their_own_tree(folder: Path):
    tree = parsed.parse_one("select a from t")
    tree.find(sqlglot.exp.Column).replace(sqlglot.exp.column("b"))
    assert parsed.parse_one("select a from t").sql() == "SELECT a FROM t"
    parsed._trees.clear()                                      # read from the folder: the first
    read = parsed.parse_one("select a from t")                 # caller gets the trees just loaded
    read.find(sqlglot.exp.Column).replace(sqlglot.exp.column("b"))
    read.find(sqlglot.exp.Table).add_comments(["added"])
    assert parsed.parse_one("select a from t").sql() == "SELECT a FROM t"
    parsed.remember_in(None)                                   # in this process only
    tree = parsed.parse_one("select x from t")
    tree.find(sqlglot.exp.Column).replace(sqlglot.exp.column("b"))
    assert parsed.parse_one("select x from t").sql() == "SELECT x FROM t"


def test_a_damaged_entry_is_parsed_again_and_an_error_is_not_remembered(folder: Path):
    parsed.parse_one("select a from t")
    [entry] = entries(folder)
    entry.write_text('[{"class": "Nonsense"')
    parsed._trees.clear()
    assert parsed.parse_one("select a from t").sql() == "SELECT a FROM t"
    with pytest.raises(sqlglot.errors.ParseError):
        parsed.parse_one("select from from")
    with pytest.raises(sqlglot.errors.ParseError):
        parsed.parse_one("select from from")
    assert len(entries(folder)) == 1


def test_a_remembered_query_is_told_without_building_its_tree(folder: Path):
    parsed.parse("select a from t union select b from u")
    parsed.parse("create table t as select 1")
    parsed.parse("select 1; select 2")
    parsed._trees.clear()                                      # a new process: only the folder knows
    assert parsed.parses_to_one_query("select a from t union select b from u")
    assert not parsed.parses_to_one_query("create table t as select 1")      # not a query
    assert not parsed.parses_to_one_query("select 1; select 2")              # two statements
    assert not parsed.parses_to_one_query("select never_parsed from t")      # not remembered: unknown
    assert [t.sql() for t in parsed.parse("select a from t union select b from u")] == \
        ["SELECT a FROM t UNION SELECT b FROM u"]
