"""The model engine on small throw-away projects: ``kontor check`` problems, dialects, and each
materialisation (view, table, incremental, snapshot) with its failure and history guarantees.

Tests are data where possible: a case is the files of a project and what must come out.
Materialisations run the engine directly on the project's warehouse (no Dagster), which is what
the asset calls; ``test_model_assets.py`` and ``test_dbt_compat.py`` go through Dagster.
"""
from __future__ import annotations

import datetime as dt
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import duckdb
import pytest

from conftest import make_project
from pipelines.core import warehouse
from pipelines.check import check_project
from pipelines.definitions import build_definitions, compile_models
from pipelines.models.materialize import Catalog, build_seed, build_snapshot, materialize, relation_type
from pipelines.core.settings import Settings

SOURCES = """\
version: 2
sources:
  - name: shop
    tables:
      - name: customers
        location: shop/customers*.csv
        primary_key: id
        columns:
          - {name: id, data_type: integer}
          - {name: name, data_type: varchar}
"""


def project(root: Path, files: dict[str, str], pyproject: str = "") -> Settings:
    """A project with ``files`` (path → text, dedented) and extra pyproject TOML."""
    settings = make_project(root, SOURCES)
    if pyproject:
        with open(root / "pyproject.toml", "a", encoding="utf-8") as fh:
            fh.write("\n" + textwrap.dedent(pyproject))
    write(root, files)
    return settings


def write(root: Path, files: dict[str, str]) -> None:
    for rel, text in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text).lstrip("\n"), encoding="utf-8")


# ---------------------------------------------------------------------------------------------
# kontor check: every problem as file:line: message

CHECK_CASES = {
    "sql syntax error, on the line of the model file (Jinja lines above it counted)": (
        {"models/staging/stg_customers.sql": """
            {{ config(materialized='view') }}

            select
                id,
                case when id = 1 then 'first'
            from {{ source('shop', 'customers') }}
            """},
        "",
        ["models/staging/stg_customers.sql:5: SQL syntax error: Expected END after CASE"]),
    "sql syntax error after a macro changed the line count: the compiled line, and how to see it": (
        {"macros/columns.sql": """
            {% macro customer_columns() %}
                id,
                name
            {% endmacro %}
            """,
         "models/staging/stg_customers.sql": """
            select {{ customer_columns() }}
            from {{ source('shop', 'customers') }}
            group id
            """},
        "",
        ["models/staging/stg_customers.sql: SQL syntax error: Invalid expression / Unexpected token "
         "(line 6 of the compiled SQL: kontor compile stg_customers)"]),
    "unknown ref, with did-you-mean": (
        {"models/staging/stg_customers.sql": "select id, name from {{ source('shop', 'customers') }}\n",
         "models/marts/customers.sql": """
            select id,
                   name
            from {{ ref('stg_customer') }}
            """},
        "",
        ["models/marts/customers.sql:3: unknown ref('stg_customer'); did you mean 'stg_customers'?"]),
    "unknown source": (
        {"models/staging/stg_customers.sql": """
            -- the customers extract
            select id, name from {{ source('shop', 'customer') }}
            """},
        "",
        ["models/staging/stg_customers.sql:2: unknown source('shop', 'customer'); did you mean 'shop.customers'?; "
         "declare it in models/sources.yml"]),
    "cycle, pointing at the ref that closes it": (
        {"models/marts/a.sql": "select 1 as x\nunion all\nselect x from {{ ref('b') }}\n",
         "models/marts/b.sql": "select x from {{ ref('c') }}\n",
         "models/marts/c.sql": "select x from {{ ref('a') }}\n"},
        "",
        ["models/marts/a.sql:3: cycle: ref('a') → ref('b') → ref('c') → ref('a')"]),
    "duplicate model names in two folders": (
        {"models/staging/customers.sql": "select 1 as x\n", "models/marts/customers.sql": "select 2 as x\n"},
        "",
        ["models/staging/customers.sql: duplicate model name 'customers', also models/marts/customers.sql; "
         "model names are unique across folders"]),
    "documented column the query does not produce": (
        {"models/staging/stg_customers.sql": "select id as customer_id, name from {{ source('shop', 'customers') }}\n",
         "models/staging/_staging.yml": """
            version: 2
            models:
              - name: stg_customers
                columns:
                  - name: customer_id
                  - name: customer_name
            """},
        "",
        ["models/staging/_staging.yml:6: column 'customer_name' is documented for stg_customers but the query "
         "does not produce it; did you mean 'customer_id'?"]),
    "documented column through select * of a source, with did-you-mean": (
        {"models/staging/stg_customers.sql": "select * from {{ source('shop', 'customers') }}\n",
         "models/staging/_staging.yml": """
            models:
              - name: stg_customers
                columns:
                  - {name: id}
                  - {name: nmae}
            """},
        "",
        ["models/staging/_staging.yml:5: column 'nmae' is documented for stg_customers but the query "
         "does not produce it; did you mean 'name'?"]),
    "a description split by an unquoted comma, and a typo in a column key": (
        {"models/marts/m.sql": "select 'EUR' as currency_code, 1 as x\n",
         "models/marts/m.yml": """
            models:
              - name: m
                columns:
                  - {name: currency_code, description: Currency, ISO 4217}
                  - {name: x, descripton: a number}
            """},
        "",
        ["models/marts/m.yml:4: unknown key 'ISO 4217' in column 'currency_code'; fix: quote the description: "
         "in {description: a, b} the comma ends the text and 'b' becomes a key",
         "models/marts/m.yml:5: unknown key 'descripton' in column 'x'; did you mean 'description'?"]),
    "a column that is not a mapping, one without a name, and a typo in the model's keys": (
        {"models/marts/m.sql": "select 1 as x\n",
         "models/marts/m.yml": """
            models:
              - name: m
                descripion: one row
                columns:
                  - x
                  - {description: a number}
            """},
        "",
        ["models/marts/m.yml:3: unknown key 'descripion' in model properties; did you mean 'description'?",
         "models/marts/m.yml:5: each item of columns must be a mapping with a 'name'",
         "models/marts/m.yml:6: missing 'name:' (the column's name)"]),
    "unknown config key in YAML": (
        {"models/marts/m.sql": "select 1 as x\n",
         "models/marts/m.yml": """
            models:
              - name: m
                config:
                  materialised: table
            """},
        "",
        ["models/marts/m.yml:4: unknown config 'materialised'; did you mean 'materialized'?"]),
    "unknown config key in {{ config() }}": (
        {"models/marts/m.sql": """
            {{ config(
                materialized='incremental',
                uniqe_key='id'
            ) }}
            select 1 as id
            """},
        "",
        ["models/marts/m.sql:3: unknown config 'uniqe_key'; did you mean 'unique_key'?",
         "models/marts/m.sql:2: incremental model needs config unique_key (or incremental_strategy='append')"]),
    "unknown config key in [tool.kontor.models.<folder>]": (
        {"models/marts/m.sql": "select 1 as x\n"},
        """
        [tool.kontor.models.marts]
        materialised = "view"
        """,
        ["pyproject.toml:8: unknown config 'materialised' in [tool.kontor.models.marts]; did you mean 'materialized'?"]),
    "incremental without unique_key": (
        {"models/marts/fct.sql": "{{ config(materialized='incremental') }}\nselect 1 as id\n"},
        "",
        ["models/marts/fct.sql:1: incremental model needs config unique_key (or incremental_strategy='append')"]),
    "snapshot without unique_key": (
        {"models/snapshots/snap.sql": "{{ config(updated_at='changed') }}\nselect 1 as id, now() as changed\n"},
        "",
        ["models/snapshots/snap.sql:1: snapshot needs config unique_key"]),
    "snapshot with an unknown strategy": (
        {"models/snapshots/snap.sql": "{{ config(unique_key='id', strategy='latest') }}\nselect 1 as id\n"},
        "",
        ["models/snapshots/snap.sql:1: unknown snapshot strategy 'latest'; use 'timestamp' or 'check'"]),
    "timestamp snapshot without updated_at": (
        {"models/snapshots/snap.sql": "{{ config(unique_key='id') }}\nselect 1 as id\n"},
        "",
        ["models/snapshots/snap.sql:1: snapshot with strategy 'timestamp' needs config updated_at (or use strategy='check')"]),
    "ref to a disabled model": (
        {"models/marts/old.sql": "{{ config(enabled=false) }}\nselect 1 as id\n",
         "models/marts/new.sql": "select 2 as id\nunion all select * from {{ ref('old') }}\n"},
        "",
        ["models/marts/new.sql:2: ref('old') points at a disabled model (config enabled=false)"]),
    "schema config is not supported: the folder is the schema": (
        {"models/marts/m.sql": "{{ config(schema='reporting') }}\nselect 1 as id\n"},
        "",
        ["models/marts/m.sql:1: unknown config 'schema'"]),
    "var without default and not set": (
        {"models/marts/m.sql": """
            select *
            from {{ source('shop', 'customers') }}
            where id >= {{ var('min_id') }}
              and id < {{ var('max_id', 100) }}
            """},
        "",
        ["models/marts/m.sql:3: var('min_id') is not set and has no default; set it under [tool.kontor.vars] "
         "in pyproject.toml"]),
    "jinja syntax error, with its line": (
        {"models/marts/m.sql": """
            select id
            from {{ source('shop', 'customers') }}
            {% if is_incremental() %}
            where id > (select max(id) from {{ this }})
            """},
        "",
        ["models/marts/m.sql:4: Jinja syntax error: Unexpected end of template. Jinja was looking for the following "
         "tags: 'elif' or 'else' or 'endif'. The innermost block that needs to be closed is 'if'."]),
    "jinja syntax error inside an expression": (
        {"models/marts/m.sql": "select id\nfrom {{ source('shop', 'customers' }}\n"},
        "",
        ["models/marts/m.sql:2: Jinja syntax error: unexpected '}', expected ')'"]),
    "undefined jinja name": (
        {"models/marts/m.sql": "select id\nfrom {{ source('shop', 'customers') }}\nwhere id > {{ treshold }}\n"},
        "",
        ["models/marts/m.sql:3: Jinja error: 'treshold' is undefined"]),
    "macro syntax error": (
        {"macros/cents.sql": "{% macro cents(x) %}\n  ({{ x }} / 100)\n{% endmacr %}\n",
         "models/marts/m.sql": "select 1 as x\n"},
        "",
        ["macros/cents.sql:3: macro syntax error: Encountered unknown tag 'endmacr'. Jinja was looking for the "
         "following tags: 'endmacro'. The innermost block that needs to be closed is 'macro'."]),
    "not a single select": (
        {"models/marts/m.sql": "create table x as select 1 as x\n"},
        "",
        ["models/marts/m.sql: a model is exactly one SELECT (or WITH ... SELECT) statement; Kontor creates the "
         "view or table itself"]),
    "unknown materialization": (
        {"models/marts/m.sql": "{{ config(materialized='ephemeral') }}\nselect 1 as x\n"},
        "",
        ["models/marts/m.sql:1: unknown materialization 'ephemeral'; use one of view, table, incremental, snapshot"]),
    "properties for a model that does not exist": (
        {"models/marts/customers.sql": "select 1 as x\n",
         "models/marts/_marts.yml": "version: 2\nmodels:\n  - name: customer\n    description: typo\n"},
        "",
        ["models/marts/_marts.yml:3: properties for unknown model 'customer'; did you mean 'customers'?"]),
    "a seed and a model with the same name": (
        {"models/staging/countries.sql": "select 1 as x\n", "seeds/countries.csv": "code,name\nDE,Germany\n"},
        "",
        ["seeds/countries.csv: seed 'countries' has the same name as model models/staging/countries.sql"]),
    "a clean project": (
        {"models/staging/stg_customers.sql": "select * from {{ source('shop', 'customers') }}\n",
         "models/marts/customers.sql": "select id, upper(name) as name from {{ ref('stg_customers') }}\n",
         "models/marts/_marts.yml": "models:\n  - name: customers\n    columns: [{name: id}, {name: name}]\n"},
        """
        [tool.kontor.models.marts]
        materialized = "table"
        """,
        []),
}


@pytest.mark.parametrize("files, pyproject, expected", CHECK_CASES.values(), ids=CHECK_CASES.keys())
def test_check_reports_file_line_message(tmp_path, files, pyproject, expected):
    problems, _ = check_project(project(tmp_path, files, pyproject))
    assert [str(p) for p in problems] == expected


def test_kontor_check_prints_one_line_per_problem_and_exits_1(tmp_path):
    project(tmp_path, {**CHECK_CASES["unknown ref, with did-you-mean"][0],
                       "models/marts/fct.sql": "{{ config(materialized='incremental') }}\nselect 1 as id\n"})
    env = {**os.environ, "KONTOR_PROJECT_DIR": str(tmp_path)}
    result = subprocess.run([sys.executable, "-m", "pipelines.cli", "check"], env=env, capture_output=True,
                            text=True, timeout=60)
    assert result.returncode == 1
    assert sorted(result.stdout.splitlines()) == [
        "models/marts/customers.sql:3: unknown ref('stg_customer'); did you mean 'stg_customers'?",
        "models/marts/fct.sql:1: incremental model needs config unique_key (or incremental_strategy='append')",
    ]


# ---------------------------------------------------------------------------------------------
# Running models: the engine on the project's warehouse

def build(settings: Settings, full_refresh: bool = False, only: str | None = None):
    """Compile the project and build its seeds and models (or one model) as a run would."""
    compiled = compile_models(settings)
    con = warehouse.connect(settings.warehouse_path)
    try:
        built = {}
        if only is None:
            for seed in compiled.project.seeds.values():
                build_seed(con, seed)
        for name in [only] if only else compiled.order:
            built[name] = materialize(con, compiled, name, full_refresh=full_refresh)
        return built
    finally:
        con.close()


def query(settings: Settings, sql: str) -> list[tuple]:
    con = duckdb.connect(str(settings.warehouse_path), read_only=True)
    try:
        return con.execute(sql).fetchall()
    finally:
        con.close()


def kind_of(settings: Settings, schema: str, name: str) -> str | None:
    con = duckdb.connect(str(settings.warehouse_path), read_only=True)
    try:
        return relation_type(con, schema, name)
    finally:
        con.close()


def test_postgres_dialect_is_transpiled_and_runs_on_duckdb(tmp_path):
    pg_sql = """
        {{ config(materialized='table', dialect='postgres') }}
        select
            id,
            initcap(name) as name,
            to_char(signed_up, 'DD.MM.YYYY') as signed_up_de,
            to_char(signed_up, 'YYYY-MM') as month,
            name ~* '^a' as starts_with_a,
            (signed_up + interval '1 month')::date as first_invoice
        from {{ ref('people') }}
        """
    settings = project(tmp_path, {
        "seeds/people.csv": "id,name,signed_up\n1,anna MÜLLER,2024-03-05\n2,bob,2024-12-31\n",
        "models/marts/people_pg.sql": pg_sql,
    })
    # The same SQL is not DuckDB: to_char and initcap do not exist there.
    con = duckdb.connect()
    con.execute("create schema seeds; create table seeds.people as select 1 as id, 'x' as name, date '2024-01-01' as signed_up")
    raw = textwrap.dedent(pg_sql).replace("{{ config(materialized='table', dialect='postgres') }}", "") \
        .replace("{{ ref('people') }}", "seeds.people")
    with pytest.raises(duckdb.CatalogException):
        con.execute(raw)
    built = build(settings)
    assert built["people_pg"].kind == "table" and "STRFTIME" in built["people_pg"].sql
    assert query(settings, "select * from marts.people_pg order by id") == [
        (1, "Anna Müller", "05.03.2024", "2024-03", True, dt.date(2024, 4, 5)),
        (2, "Bob", "31.12.2024", "2024-12", False, dt.date(2025, 1, 31)),
    ]


def _leftovers(settings: Settings) -> list[tuple]:
    return query(settings, "select table_schema, table_name from information_schema.tables "
                           "where table_name like '%kontor_new%' or table_name like '%kontor_increment%'")


RUNTIME_ERROR = "select id, case when amount = 0 then error('amount 0 for id ' || id) else 100 / amount end as ratio"
BIND_ERROR = "select id, 100 / amount_in_cents as ratio"    # compiles; DuckDB rejects it when creating


@pytest.mark.parametrize("before, after, broken, error", [
    ("table", "table", RUNTIME_ERROR, "amount 0 for id 2"),
    ("view", "table", RUNTIME_ERROR, "amount 0 for id 2"),
    ("table", "view", BIND_ERROR, "amount_in_cents"),
    ("view", "view", BIND_ERROR, "amount_in_cents"),
])
def test_failing_rebuild_keeps_the_previous_relation(tmp_path, before, after, broken, error):
    settings = project(tmp_path, {
        "seeds/amounts.csv": "id,amount\n1,10\n2,0\n",
        "models/marts/ratios.sql": f"{{{{ config(materialized='{before}') }}}}\n"
                                   "select id, amount * 2 as ratio from {{ ref('amounts') }}\n",
    })
    build(settings)
    assert kind_of(settings, "marts", "ratios") == before
    # The new version fails in DuckDB (not in kontor check): the error surfaces, nothing changes.
    write(tmp_path, {"models/marts/ratios.sql": f"{{{{ config(materialized='{after}') }}}}\n"
                                                f"{broken} from {{{{ ref('amounts') }}}}\n"})
    with pytest.raises(duckdb.Error, match=error):
        build(settings, only="ratios")
    assert kind_of(settings, "marts", "ratios") == before
    assert query(settings, "select * from marts.ratios order by id") == [(1, 20), (2, 0)]
    assert _leftovers(settings) == []
    # ... and the warehouse is usable: the fixed model builds.
    write(tmp_path, {"seeds/amounts.csv": "id,amount\n1,10\n2,4\n",
                     "models/marts/ratios.sql": f"{{{{ config(materialized='{after}') }}}}\n"
                                                f"{RUNTIME_ERROR} from {{{{ ref('amounts') }}}}\n"})
    build(settings)
    assert kind_of(settings, "marts", "ratios") == after
    assert query(settings, "select * from marts.ratios order by id") == [(1, 10), (2, 25)]


@pytest.mark.parametrize("with_catalog", [False, True])
def test_a_half_built_table_of_a_killed_run_is_replaced(tmp_path, with_catalog):
    """A run killed between creating and swapping leaves ``__kontor_new_<model>`` behind; the next
    build drops it, whether it looks the table up or reads the layer's catalog once."""
    settings = project(tmp_path, {"seeds/raw_people.csv": "id,name\n1,anna\n2,bob\n",
                                  "models/marts/people.sql": "{{ config(materialized='table') }}\n"
                                                             "select id, upper(name) as name from {{ ref('raw_people') }}\n"})
    build(settings)
    con = warehouse.connect(settings.warehouse_path)
    try:
        con.execute("create table marts.__kontor_new_people as select 'stale' as name")
        compiled = compile_models(settings)
        built = materialize(con, compiled, "people", catalog=Catalog(con) if with_catalog else None)
    finally:
        con.close()
    assert built.rows == 2 and _leftovers(settings) == []
    assert query(settings, "select * from marts.people order by id") == [(1, "ANNA"), (2, "BOB")]


def test_switching_between_view_and_table_both_ways(tmp_path):
    model = "{{{{ config(materialized='{}') }}}}\nselect id, upper(name) as name from {{{{ ref('raw_people') }}}}\n"
    settings = project(tmp_path, {"seeds/raw_people.csv": "id,name\n1,anna\n2,bob\n",
                                  "models/marts/people.sql": model.format("view")})
    for kind in ("view", "table", "view", "incremental", "view"):
        if kind == "incremental":
            write(tmp_path, {"models/marts/people.sql": model.format("incremental").replace(
                "materialized='incremental'", "materialized='incremental', unique_key='id'")})
        else:
            write(tmp_path, {"models/marts/people.sql": model.format(kind)})
        build(settings)
        assert kind_of(settings, "marts", "people") == ("table" if kind == "incremental" else kind), kind
        assert query(settings, "select * from marts.people order by id") == [(1, "ANNA"), (2, "BOB")]
    assert _leftovers(settings) == []


def test_incremental_append_strategy(tmp_path):
    settings = project(tmp_path, {
        "seeds/events.csv": "id,kind\n1,open\n2,click\n3,click\n",
        "models/marts/event_log.sql": """
            {{ config(materialized='incremental', incremental_strategy='append') }}
            select id, kind from {{ ref('events') }}
            {% if is_incremental() %}
            where id > (select max(id) from {{ this }})
            {% endif %}
            """,
    })
    first = build(settings)["event_log"]
    assert (first.kind, first.rows) == ("incremental (full)", 3)
    # Next delivery: two new events and a changed old one; append adds only what passes the filter.
    write(tmp_path, {"seeds/events.csv": "id,kind\n1,open\n2,CHANGED\n3,click\n4,click\n5,close\n"})
    second = build(settings)["event_log"]
    assert (second.kind, second.detail, second.rows) == ("incremental (append)", "append: 2 rows", 5)
    assert query(settings, "select * from marts.event_log order by id") == [
        (1, "open"), (2, "click"), (3, "click"), (4, "click"), (5, "close")]
    # Without a filter, append appends everything again: no key, no dedup (as in dbt).
    write(tmp_path, {"models/marts/event_log.sql": "{{ config(materialized='incremental', "
                                                   "incremental_strategy='append') }}\nselect id, kind from {{ ref('events') }}\n"})
    assert build(settings, only="event_log")["event_log"].rows == 10
    assert build(settings, full_refresh=True)["event_log"].rows == 5


def test_disabled_model_is_not_built_and_full_refresh_false_protects_history(tmp_path):
    settings = project(tmp_path, {
        "seeds/events.csv": "id,kind\n1,open\n2,click\n",
        "models/marts/retired.sql": "{{ config(enabled=false) }}\nselect 1 as id\n",
        "models/marts/ledger.sql": """
            {{ config(materialized='incremental', incremental_strategy='append', full_refresh=false) }}
            select id, kind from {{ ref('events') }}
            {% if is_incremental() %} where id > (select max(id) from {{ this }}) {% endif %}
            """,
    })
    assert "retired" not in compile_models(settings).models
    build(settings)
    write(tmp_path, {"seeds/events.csv": "id,kind\n3,close\n"})   # the source forgot 1 and 2
    assert build(settings, full_refresh=True)["ledger"].kind == "incremental (append)"
    assert query(settings, "select id from marts.ledger order by id") == [(1,), (2,), (3,)]
    assert kind_of(settings, "marts", "retired") is None


def test_incremental_merge_on_a_composite_key_adds_new_columns(tmp_path):
    settings = project(tmp_path, {
        "seeds/stock.csv": "sku,warehouse,qty\nA,north,1\nA,south,2\nB,north,3\n",
        "models/marts/stock_levels.sql": """
            {{ config(materialized='incremental', unique_key=['sku', 'warehouse']) }}
            select sku, warehouse, qty from {{ ref('stock') }}
            """,
    })
    build(settings)
    write(tmp_path, {"seeds/stock.csv": "sku,warehouse,qty,bin\nA,south,5,S1\nC,north,7,N9\n",
                     "models/marts/stock_levels.sql": """
            {{ config(materialized='incremental', unique_key=['sku', 'warehouse']) }}
            select sku, warehouse, qty, bin from {{ ref('stock') }}
            """})
    built = build(settings)["stock_levels"]
    assert built.detail == "merge: 2 rows; new columns bin"
    assert query(settings, "select * from marts.stock_levels order by all") == [
        ("A", "north", 1, None), ("A", "south", 5, "S1"), ("B", "north", 3, None), ("C", "north", 7, "N9")]


# ---------------------------------------------------------------------------------------------
# Snapshots (SCD type 2)

T = dt.datetime.fromisoformat


def snapshot_project(tmp_path: Path, config: str, rows: str) -> Settings:
    return project(tmp_path, {
        "seeds/customers.csv": "id,name,tier,updated_at\n" + rows,
        "models/snapshots/customers_history.sql": f"{{{{ config({config}) }}}}\n"
                                                  "select * from {{ ref('customers') }}\n",
    })


def snap(settings: Settings, rows: str | None, now: str, full_refresh: bool = False) -> None:
    """Deliver ``rows`` as the seed's new content, then snapshot at time ``now``."""
    if rows is not None:
        write(settings.project_dir, {"seeds/customers.csv": "id,name,tier,updated_at\n" + rows})
    compiled = compile_models(settings)
    con = warehouse.connect(settings.warehouse_path)
    try:
        for seed in compiled.project.seeds.values():
            build_seed(con, seed)
        if full_refresh:   # the path a run tagged kontor/full_refresh=true takes
            materialize(con, compiled, "customers_history", full_refresh=True)
        else:
            build_snapshot(con, compiled.models["customers_history"], compiled.models["customers_history"].sql, now=T(now))
    finally:
        con.close()


def history(settings: Settings) -> list[tuple]:
    return query(settings, "select id, name, tier, valid_from, valid_to from snapshots.customers_history "
                           "order by id, valid_from")


def test_snapshot_timestamp_strategy(tmp_path):
    settings = snapshot_project(tmp_path, "unique_key='id', strategy='timestamp', updated_at='updated_at'", (
        "1,Anna,gold,2024-01-01 08:00\n"
        "2,Bob,silver,2024-01-02 09:00\n"
        "3,Cem,bronze,2024-01-03 10:00\n"))
    snap(settings, None, "2024-02-01 00:00")
    assert kind_of(settings, "snapshots", "customers_history") == "table"
    assert history(settings) == [
        (1, "Anna", "gold", T("2024-01-01 08:00"), None),
        (2, "Bob", "silver", T("2024-01-02 09:00"), None),
        (3, "Cem", "bronze", T("2024-01-03 10:00"), None)]
    snap(settings, (
        "1,Anna,platinum,2024-02-10 12:00\n"   # updated_at moved: a new version
        "2,Bob,silver,2024-01-02 09:00\n"      # unchanged
        "3,Cem,gold,2024-01-03 10:00\n"        # changed but updated_at did not move: not a change here
        "4,Dora,bronze,2024-02-11 07:30\n"),   # new key
        "2024-03-01 00:00")
    expected = [
        (1, "Anna", "gold", T("2024-01-01 08:00"), T("2024-02-10 12:00")),
        (1, "Anna", "platinum", T("2024-02-10 12:00"), None),
        (2, "Bob", "silver", T("2024-01-02 09:00"), None),
        (3, "Cem", "bronze", T("2024-01-03 10:00"), None),
        (4, "Dora", "bronze", T("2024-02-11 07:30"), None)]
    assert history(settings) == expected
    snap(settings, None, "2024-03-02 00:00")            # same data again: nothing moves
    assert history(settings) == expected
    snap(settings, None, "2024-03-03 00:00", full_refresh=True)   # full refresh keeps the history
    assert history(settings) == expected
    assert _leftovers(settings) == [] and query(settings, "select count(*) from information_schema.tables "
                                                          "where table_name like '__kontor_%'") == [(0,)]


def test_snapshot_check_strategy(tmp_path):
    settings = snapshot_project(tmp_path, "unique_key='id', strategy='check', check_cols=['tier']", (
        "1,Anna,gold,2024-01-01 08:00\n"
        "2,Bob,silver,2024-01-02 09:00\n"))
    snap(settings, None, "2024-02-01 00:00")
    snap(settings, (
        "1,Anna,platinum,2024-01-01 08:00\n"   # checked column changed: new version from `now`
        "2,Robert,silver,2024-02-05 09:00\n"), # only unchecked columns changed: no new version
        "2024-03-01 00:00")
    assert history(settings) == [
        (1, "Anna", "gold", T("2024-02-01 00:00"), T("2024-03-01 00:00")),
        (1, "Anna", "platinum", T("2024-03-01 00:00"), None),
        (2, "Bob", "silver", T("2024-02-01 00:00"), None)]


def test_snapshot_check_all_columns_and_invalidate_hard_deletes(tmp_path):
    settings = snapshot_project(tmp_path, "unique_key='id', strategy='check', check_cols='all', "
                                          "invalidate_hard_deletes=true", (
        "1,Anna,gold,2024-01-01 08:00\n"
        "2,Bob,silver,2024-01-02 09:00\n"
        "3,Cem,bronze,2024-01-03 10:00\n"))
    snap(settings, None, "2024-02-01 00:00")
    snap(settings, (
        "1,Anna,gold,2024-01-01 08:00\n"
        "2,Robert,silver,2024-01-02 09:00\n"), # 2 renamed (all columns are checked); 3 deleted
        "2024-03-01 00:00")
    assert history(settings) == [
        (1, "Anna", "gold", T("2024-02-01 00:00"), None),
        (2, "Bob", "silver", T("2024-02-01 00:00"), T("2024-03-01 00:00")),
        (2, "Robert", "silver", T("2024-03-01 00:00"), None),
        (3, "Cem", "bronze", T("2024-02-01 00:00"), T("2024-03-01 00:00"))]


def test_snapshot_without_invalidate_hard_deletes_keeps_deleted_keys_current(tmp_path):
    settings = snapshot_project(tmp_path, "unique_key='id', strategy='check'",
                                "1,Anna,gold,2024-01-01 08:00\n2,Bob,silver,2024-01-02 09:00\n")
    snap(settings, None, "2024-02-01 00:00")
    snap(settings, "1,Anna,gold,2024-01-01 08:00\n", "2024-03-01 00:00")
    assert history(settings) == [
        (1, "Anna", "gold", T("2024-02-01 00:00"), None),
        (2, "Bob", "silver", T("2024-02-01 00:00"), None)]


# ---------------------------------------------------------------------------------------------
# code_version: what makes the UI mark a model stale

def code_versions(settings: Settings) -> dict[str, str]:
    graph = build_definitions(settings).resolve_asset_graph()
    return {key.to_user_string(): graph.get(key).code_version for key in graph.get_all_asset_keys()
            if key.path[0] in ("staging", "marts")}


def test_code_version_follows_the_sql_not_yaml_whitespace(tmp_path):
    yml = """
        version: 2
        models:
          - name: customers
            description: One row per customer.
            columns:
              - {name: id, description: The id.}
        """
    settings = project(tmp_path, {
        "models/staging/stg_customers.sql": "select * from {{ source('shop', 'customers') }}\n",
        "models/marts/customers.sql": "select id, name from {{ ref('stg_customers') }}\n",
        "models/marts/_marts.yml": yml,
    })
    before = code_versions(settings)
    assert set(before) == {"staging/stg_customers", "marts/customers"} and all(before.values())
    # Reformatted YAML (blank lines, comments, flow to block style): the same properties.
    write(tmp_path, {"models/marts/_marts.yml": """
        version: 2

        # reformatted
        models:
          - name:   customers
            description:    One row per customer.
            columns:
              - name: id
                description: The id.
        """})
    assert code_versions(settings) == before
    write(tmp_path, {"models/marts/customers.sql": "select id, upper(name) as name from {{ ref('stg_customers') }}\n"})
    after = code_versions(settings)
    assert after["marts/customers"] != before["marts/customers"]
    assert after["staging/stg_customers"] == before["staging/stg_customers"]
    # How it is built is part of it too: the same SQL as a table is another version.
    write(tmp_path, {"models/marts/customers.sql": "{{ config(materialized='view') }}\n"
                                                   "select id, upper(name) as name from {{ ref('stg_customers') }}\n"})
    assert code_versions(settings)["marts/customers"] != after["marts/customers"]
