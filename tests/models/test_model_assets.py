"""SQL models as Dagster assets, through ``build_definitions`` on a throw-away project: keys,
groups, dependencies, descriptions, column schemas and code versions before a run; row counts,
compiled SQL and column lineage (down to the raw source columns) after it; and
``kontor lineage`` printing the same chain down to the source file glob.

The source's columns are mixed case (``AccountId``, ``Name``), as in real extracts, and one model
aliases a column in mixed case: DuckDB keeps those names, so the lineage must too.
"""
from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import dagster as dg
import duckdb
import pytest

from conftest import make_project
from pipelines.definitions import ALL_JOB, build_definitions, compile_models
from pipelines.core.settings import Settings

SOURCES = """\
version: 2
sources:
  - name: crm
    owner: sales
    tables:
      - name: accounts
        description: CRM accounts.
        location: crm/accounts*.csv
        primary_key: AccountId
        columns:
          - {name: AccountId, data_type: integer}
          - {name: Name, data_type: varchar}
          - {name: country, data_type: varchar}
          - {name: revenue, data_type: "decimal(12,2)"}
"""
SOURCES_LINE = 6   # the line of "- name: accounts" above: where the lineage says the table is declared

FILES = {
    "data/crm/accounts.csv": "AccountId,Name,country,revenue\n1, Acme GmbH ,DE,10.50\n2,Globex,XX,3.00\n3,Initech,FR,0\n",
    "seeds/countries.csv": "code,name\nDE,Germany\nFR,France\n",
    "models/staging/stg_accounts.sql": """
        select
            AccountId as account_id,
            trim(Name) as AccountName,
            country as country_code,
            revenue
        from {{ source('crm', 'accounts') }}
        """,
    "models/marts/dim_accounts.sql": """
        {{ config(materialized='table', tags=['finance']) }}
        select
            a.account_id,
            a.AccountName,
            coalesce(c.name, a.country_code) as country,
            a.revenue * 2 as revenue_x
        from {{ ref('stg_accounts') }} as a
        left join {{ ref('countries') }} as c on a.country_code = c.code
        """,
    "models/marts/_marts.yml": """
        version: 2
        models:
          - name: dim_accounts
            description: One row per CRM account, with its country's name.
            meta: {owner: finance@example.com}
            columns:
              - {name: account_id, data_type: integer, description: The CRM account id.}
              - {name: AccountName, data_type: varchar}
              - {name: country, data_type: varchar, description: "Country name, else the code."}
              - {name: revenue_x, data_type: "decimal(38,2)"}
        """,
}

# Each model column and the upstream (asset key, column) pairs it is computed from.
EXPECTED_LINEAGE = {
    "staging/stg_accounts": {
        "account_id": {("raw/crm__accounts", "AccountId")},
        "AccountName": {("raw/crm__accounts", "Name")},
        "country_code": {("raw/crm__accounts", "country")},
        "revenue": {("raw/crm__accounts", "revenue")},
    },
    "marts/dim_accounts": {
        "account_id": {("staging/stg_accounts", "account_id")},
        "AccountName": {("staging/stg_accounts", "AccountName")},
        "country": {("seeds/countries", "name"), ("staging/stg_accounts", "country_code")},
        "revenue_x": {("staging/stg_accounts", "revenue")},
    },
}


def key(text: str) -> dg.AssetKey:
    return dg.AssetKey.from_user_string(text)


@pytest.fixture(scope="module")
def ran(executed) -> tuple[Settings, dg.Definitions, dict[str, dict]]:
    settings, defs, result = executed
    events = {e.asset_key.to_user_string(): e.materialization.metadata for e in result.get_asset_materialization_events()}
    return settings, defs, events


@pytest.fixture(scope="module")
def executed(tmp_path_factory) -> tuple[Settings, dg.Definitions, dg.ExecuteInProcessResult]:
    root = tmp_path_factory.mktemp("assets")
    settings = make_project(root, SOURCES)
    for rel, text in FILES.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(textwrap.dedent(text).lstrip("\n"), encoding="utf-8")
    defs = build_definitions(settings)
    result = defs.resolve_job_def(ALL_JOB).execute_in_process(instance=dg.DagsterInstance.ephemeral())
    assert result.success
    return settings, defs, result


def test_every_model_and_seed_is_an_asset_keyed_schema_name_grouped_by_folder(ran):
    _, defs, _ = ran
    graph = defs.resolve_asset_graph()
    groups = {k.to_user_string(): graph.get(k).group_name for k in graph.get_all_asset_keys()}
    assert groups == {"raw/crm__accounts": "raw", "seeds/countries": "seeds", "staging/stg_accounts": "staging",
                      "marts/dim_accounts": "marts", "kontor/serving_copy": "serving"}


def test_dependencies_come_from_ref_and_source(ran):
    _, defs, _ = ran
    graph = defs.resolve_asset_graph()
    parents = {name: {k.to_user_string() for k in graph.get(key(name)).parent_keys}
               for name in ("staging/stg_accounts", "marts/dim_accounts", "seeds/countries")}
    assert parents == {"staging/stg_accounts": {"raw/crm__accounts"},
                       "marts/dim_accounts": {"staging/stg_accounts", "seeds/countries"},
                       "seeds/countries": set()}


def test_description_column_schema_owner_tags_and_code_version(ran):
    settings, defs, _ = ran
    graph = defs.resolve_asset_graph()
    compiled = compile_models(settings)
    dim, stg = graph.get(key("marts/dim_accounts")), graph.get(key("staging/stg_accounts"))
    assert dim.description == "One row per CRM account, with its country's name."
    assert stg.description == "view staging.stg_accounts from models/staging/stg_accounts.sql"  # no YAML: a default
    schema = dim.metadata["dagster/column_schema"]
    assert [(c.name, c.type, c.description) for c in schema.columns] == [
        ("account_id", "integer", "The CRM account id."), ("AccountName", "varchar", None),
        ("country", "varchar", "Country name, else the code."), ("revenue_x", "decimal(38,2)", None)]
    assert "dagster/column_schema" not in stg.metadata
    assert (dim.metadata["materialized"], dim.metadata["file"], dim.metadata["dagster/table_name"]) == \
        ("table", "models/marts/dim_accounts.sql", "marts.dim_accounts")
    assert dim.owners == ["finance@example.com"]
    assert {k: v for k, v in dim.tags.items() if not k.startswith("dagster/kind/")} == {"kontor/layer": "marts", "finance": ""}
    assert set(dim.kinds) == {"duckdb", "sql"}
    for name in ("dim_accounts", "stg_accounts"):
        cm = compiled.models[name]
        node = graph.get(key(f"{cm.model.schema}/{name}"))
        assert node.code_version == cm.code_version and len(node.code_version) == 16
    assert dim.code_version != stg.code_version


def test_materialization_metadata_row_count_and_compiled_sql(ran):
    settings, _, events = ran
    compiled = compile_models(settings)
    con = duckdb.connect(str(settings.warehouse_path), read_only=True)
    try:
        # Tables report their row count; views are not executed just to count them.
        assert events["marts/dim_accounts"]["dagster/row_count"].value == \
            con.execute("select count(*) from marts.dim_accounts").fetchone()[0] == 3
        assert "dagster/row_count" not in events["staging/stg_accounts"]
        for name in ("staging/stg_accounts", "marts/dim_accounts"):
            meta = events[name]
            assert meta["compiled_sql"].value == f"```sql\n{compiled.models[name.split('/')[1]].sql}\n```"
        assert "from raw.crm__accounts" in events["staging/stg_accounts"]["compiled_sql"].value
        assert events["marts/dim_accounts"]["materialization"].value == "table"
        assert events["seeds/countries"]["dagster/row_count"].value == 2
        # The column names DuckDB built are the ones the lineage below speaks of.
        assert [r[0] for r in con.execute("describe marts.dim_accounts").fetchall()] == list(EXPECTED_LINEAGE["marts/dim_accounts"])
    finally:
        con.close()


def test_the_compiled_sql_and_lineage_are_on_the_materialisation_only(executed):
    # Given through context.add_asset_metadata (assets/models.py, STATIC_KEYS): the step's output
    # event, which Dagster writes for every model too, does not carry a second copy.
    _, _, result = executed
    outputs = {e.step_output_data.step_output_handle.output_name: e.step_output_data.metadata
               for e in result.all_events if e.event_type_value == "STEP_OUTPUT"}
    materialized = {e.asset_key.to_user_string(): e.materialization.metadata for e in result.get_asset_materialization_events()}
    assert {"staging__stg_accounts", "marts__dim_accounts"} <= set(outputs)
    for metadata in outputs.values():
        assert "compiled_sql" not in metadata and "dagster/column_lineage" not in metadata
    assert "dagster/row_count" in outputs["marts__dim_accounts"]            # what changes from run to run stays
    assert {"compiled_sql", "dagster/column_lineage", "materialization"} <= set(materialized["marts/dim_accounts"])


def test_column_lineage_points_at_upstream_assets_and_columns(ran):
    _, defs, events = ran
    for name, expected in EXPECTED_LINEAGE.items():
        lineage = events[name]["dagster/column_lineage"].value
        actual = {col: {(d.asset_key.to_user_string(), d.column_name) for d in deps}
                  for col, deps in lineage.deps_by_column.items()}
        assert actual == expected, name
    # Every column the lineage names exists in the upstream asset's declared schema (raw) or table.
    raw_schema = defs.resolve_asset_graph().get(key("raw/crm__accounts")).metadata["dagster/column_schema"]
    raw_columns = {c.name for c in raw_schema.columns}
    assert {col for _, col in set().union(*EXPECTED_LINEAGE["staging/stg_accounts"].values())} <= raw_columns


def kontor(project: Path, *args: str, hash_seed: str = "0") -> subprocess.CompletedProcess:
    env = {**os.environ, "KONTOR_PROJECT_DIR": str(project), "COLUMNS": "200", "PYTHONHASHSEED": hash_seed}
    return subprocess.run([sys.executable, "-m", "pipelines.cli", *args], env=env, capture_output=True,
                          text=True, timeout=60)


def test_kontor_lineage_prints_the_chain_down_to_the_source_file(ran):
    settings, _, _ = ran
    declared = f"(models/sources.yml:{SOURCES_LINE})"
    for seed in ("0", "1", "2"):   # the same tree whatever the hash seed (sqlglot walks sets)
        result = kontor(settings.project_dir, "lineage", "marts.dim_accounts.country", hash_seed=seed)
        assert result.returncode == 0, result.stderr
        assert result.stdout.splitlines() == [
            "marts.dim_accounts.country",
            "├── seeds.countries.name  ← seeds/countries.csv column name",
            "└── staging.stg_accounts.country_code",
            f"    └── raw.crm__accounts.country  ← crm/accounts*.csv column country {declared}",
        ]
    result = kontor(settings.project_dir, "lineage", "marts.dim_accounts.AccountName")
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == [
        "marts.dim_accounts.AccountName",
        "└── staging.stg_accounts.AccountName",
        f"    └── raw.crm__accounts.Name  ← crm/accounts*.csv column Name {declared}",
    ]
    unknown = kontor(settings.project_dir, "lineage", "marts.dim_accounts.nope")
    assert unknown.returncode == 1
    assert "no lineage for marts.dim_accounts.nope" in unknown.stderr
