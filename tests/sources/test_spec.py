"""The source declarations: a valid spec parses, and each problem is one exact ``file:line: message``.

Every case is an input/expected pair; line numbers count from the first line of the YAML text.
"""
from __future__ import annotations

from pathlib import Path
from textwrap import dedent

import pytest

from pipelines.core.errors import ProjectError
from pipelines.sources.spec import FileFormat, load_sources, parse_sources
from pipelines.core.yamlfile import loads

FILE = "models/sources.yml"

VALID = dedent("""\
    version: 2
    connections:
      erp_pg:
        kind: postgres
        url_env: ERP_URL
    sources:
      - name: crm
        owner: sales
        format: {type: csv, delimiter: ";", encoding: windows-1252}
        tables:
          - name: accounts
            location: crm/accounts*.csv
            primary_key: account_id
            updated_at: modified_at
            columns:
              - {name: account_id, data_type: varchar}
              - {name: amount, data_type: "decimal(12,2)"}
              - {name: qty, data_type: integer}
              - {name: modified_at, data_type: timestamp}
          - name: bookings
            location: crm/bookings.csv
            format: {decimal_separator: ",", thousands_separator: ".", date_format: "%d.%m.%Y"}
            primary_key: [booking_no, line_no]
            columns:
              - {name: booking_no, data_type: bigint}
              - {name: line_no, data_type: int}
              - {name: booked_on, data_type: date, required: true}
              - {name: memo}
      - name: erp
        format: {type: parquet}
        tables:
          - name: orders
            query: select * from orders
            connection: erp_pg
            primary_key: order_no
            columns:
              - name: order_no
                data_type: bigint
              - name: note
    """)


def parse(text: str):
    return parse_sources(loads(text, FILE), FILE)


def problems(text: str) -> list[str]:
    with pytest.raises(ProjectError) as info:
        parse(text)
    return [str(p) for p in info.value.problems]


def test_valid_spec_parses():
    project = parse(VALID)
    assert [t.key for t in project.tables] == ["crm__accounts", "crm__bookings", "erp__orders"]
    accounts, bookings, orders = project.tables

    assert project.connections["erp_pg"].url_env == "ERP_URL"
    assert project.table("crm__bookings") is bookings
    assert accounts.raw_table == "raw.crm__accounts"
    assert (accounts.file, accounts.line, bookings.line, orders.line) == (FILE, 11, 20, 32)
    assert (accounts.system, accounts.owner, orders.owner) == ("crm", "sales", "")
    assert accounts.location == "crm/accounts*.csv" and accounts.query is None
    assert accounts.updated_at == "modified_at"

    # The system's format is every table's default; a table's format overrides key by key.
    assert accounts.format == FileFormat(type="csv", delimiter=";", encoding="cp1252")
    assert bookings.format == FileFormat(type="csv", delimiter=";", encoding="cp1252", decimal_separator=",",
                                         thousands_separator=".", date_format="%d.%m.%Y")
    assert orders.format == FileFormat(type="parquet")

    # Types are normalised to DuckDB's spelling (varchar is text); an undeclared type is text.
    assert [c.data_type for c in accounts.columns] == ["varchar", "decimal(12, 2)", "int", "timestamp"]
    assert bookings.column("memo").data_type == "varchar" and bookings.column("memo").is_text
    assert [c.line for c in accounts.columns] == [16, 17, 18, 19]
    assert bookings.column("nope") is None

    # Primary key columns are made required; others keep what they declare.
    assert accounts.primary_key == ("account_id",)
    assert [(c.name, c.required) for c in accounts.columns] == [
        ("account_id", True), ("amount", False), ("qty", False), ("modified_at", False)]
    assert bookings.primary_key == ("booking_no", "line_no")
    assert [(c.name, c.required) for c in bookings.columns] == [
        ("booking_no", True), ("line_no", True), ("booked_on", True), ("memo", False)]

    assert (orders.query, orders.connection, orders.location) == ("select * from orders", "erp_pg", None)
    assert orders.column("order_no").required and not orders.column("note").required


def test_load_sources_reads_a_file(tmp_path: Path):
    path = tmp_path / "sources.yml"
    path.write_text(VALID, encoding="utf-8")
    project = load_sources(path, display_name=FILE)
    assert [t.key for t in project.tables] == ["crm__accounts", "crm__bookings", "erp__orders"]
    assert project.tables[0].file == FILE
    assert load_sources(path).tables[0].file == str(path)


def test_load_sources_names_file_and_line(tmp_path: Path):
    path = tmp_path / "sources.yml"
    path.write_text("sources:\n  - name: crm\n    tables:\n    - name: accounts\n       location: a.csv\n", encoding="utf-8")
    with pytest.raises(ProjectError) as info:
        load_sources(path, display_name=FILE)
    assert str(info.value) == f"{FILE}:5: invalid YAML: mapping values are not allowed here"


def test_load_sources_missing_file(tmp_path: Path):
    with pytest.raises(ProjectError) as info:
        load_sources(tmp_path / "nope.yml", display_name=FILE)
    assert str(info.value) == f"{FILE}: sources file not found; fix: create it or set [tool.kontor] sources"


# (id, YAML text, the exact problems in order)
CASES = [
    ("unknown_table_key", """\
        sources:
          - name: crm
            tables:
              - name: accounts
                location: a.csv
                primary_keys: id
                columns:
                  - {name: id}
        """, [f"{FILE}:6: unknown key 'primary_keys' in table; did you mean 'primary_key'?"]),

    ("unknown_format_key", """\
        sources:
          - name: crm
            tables:
              - name: accounts
                location: a.csv
                format:
                  type: csv
                  delimeter: ";"
                columns:
                  - {name: id}
        """, [f"{FILE}:8: unknown key 'delimeter' in format; did you mean 'delimiter'?"]),

    ("unknown_column_key", """\
        sources:
          - name: crm
            tables:
              - name: accounts
                location: a.csv
                columns:
                  - name: id
                  - name: amount
                    data_typ: double
        """, [f"{FILE}:9: unknown key 'data_typ' in column; did you mean 'data_type'?"]),

    ("unknown_key_no_suggestion", """\
        sources:
          - name: crm
            colour: red
            tables:
              - name: accounts
                location: a.csv
                columns:
                  - {name: id}
        """, [f"{FILE}:3: unknown key 'colour' in source system"]),

    ("unknown_top_level_key", """\
        version: 2
        source:
          - name: crm
        """, [f"{FILE}:2: unknown key 'source' in sources file; did you mean 'sources'?",
              f"{FILE}:1: sources must be a list"]),

    ("unknown_data_type", """\
        sources:
          - name: crm
            tables:
              - name: accounts
                location: a.csv
                columns:
                  - {name: id, data_type: integer}
                  - name: amount
                    data_type: strng
        """, [f"{FILE}:9: unknown data_type 'strng'; use varchar, integer, bigint, double, decimal(p,s), date, "
              "timestamp or boolean"]),

    ("location_parent_dir", """\
        sources:
          - name: crm
            tables:
              - name: accounts
                location: ../secret/*.csv
                columns:
                  - {name: id}
        """, [f"{FILE}:5: location '../secret/*.csv' must be a glob relative to the data directory, without '..'"]),

    ("location_parent_dir_inside", """\
        sources:
          - name: crm
            tables:
              - name: accounts
                columns:
                  - {name: id}
                location: crm/../../etc/*.csv
        """, [f"{FILE}:7: location 'crm/../../etc/*.csv' must be a glob relative to the data directory, without '..'"]),

    ("location_absolute", """\
        sources:
          - name: crm
            tables:
              - name: accounts
                location: /etc/passwd
                columns:
                  - {name: id}
        """, [f"{FILE}:5: location '/etc/passwd' must be a glob relative to the data directory, without '..'"]),

    ("location_home", """\
        sources:
          - name: crm
            tables:
              - name: accounts
                location: ~/extracts/*.csv
                columns:
                  - {name: id}
        """, [f"{FILE}:5: location '~/extracts/*.csv' must be a glob relative to the data directory, without '..'"]),

    ("primary_key_not_declared", """\
        sources:
          - name: crm
            tables:
              - name: accounts
                location: a.csv
                primary_key: acount_id
                columns:
                  - {name: account_id}
                  - {name: name}
        """, [f"{FILE}:6: primary_key column 'acount_id' is not declared; did you mean 'account_id'?"]),

    ("primary_key_part_not_declared", """\
        sources:
          - name: crm
            tables:
              - name: lines
                location: a.csv
                columns:
                  - {name: order_no}
                  - {name: line_no}
                primary_key: [order_no, position]
        """, [f"{FILE}:9: primary_key column 'position' is not declared"]),

    ("updated_at_not_declared", """\
        sources:
          - name: crm
            tables:
              - name: accounts
                location: a.csv
                updated_at: modified
                columns:
                  - {name: id}
                  - {name: modified_at, data_type: timestamp}
        """, [f"{FILE}:6: updated_at column 'modified' is not declared; did you mean 'modified_at'?"]),

    ("both_location_and_query", """\
        connections:
          erp_pg: {url_env: ERP_URL}
        sources:
          - name: erp
            tables:
              - name: orders
                location: erp/orders.csv
                query: select * from orders
                connection: erp_pg
                columns:
                  - {name: order_no}
        """, [f"{FILE}:6: table 'orders' needs exactly one of 'location' (a file glob) or 'query' (SQL on a connection)"]),

    ("neither_location_nor_query", """\
        sources:
          - name: erp
            tables:
              - name: orders
                columns:
                  - {name: order_no}
        """, [f"{FILE}:4: table 'orders' needs exactly one of 'location' (a file glob) or 'query' (SQL on a connection)"]),

    ("unknown_connection", """\
        connections:
          erp_pg:
            url_env: ERP_URL
        sources:
          - name: erp
            tables:
              - name: orders
                query: select * from orders
                connection: erp_pgg
                columns:
                  - {name: order_no}
        """, [f"{FILE}:9: unknown connection 'erp_pgg'; did you mean 'erp_pg'?; declare it under 'connections'"]),

    ("query_without_connection", """\
        sources:
          - name: erp
            tables:
              - name: orders
                query: select * from orders
                columns:
                  - {name: order_no}
        """, [f"{FILE}:4: table 'orders' has a query but no 'connection'; name one declared under 'connections'"]),

    ("duplicate_table", """\
        sources:
          - name: crm
            tables:
              - name: accounts
                location: a.csv
                columns:
                  - {name: id}
              - name: contacts
                location: c.csv
                columns:
                  - {name: id}
              - name: accounts
                location: a2.csv
                columns:
                  - {name: id}
        """, [f"{FILE}:12: duplicate table 'accounts' in source 'crm'"]),

    ("duplicate_source", """\
        sources:
          - name: crm
            tables:
              - {name: a, location: a.csv, columns: [{name: id}]}
          - name: crm
            tables:
              - {name: b, location: b.csv, columns: [{name: id}]}
        """, [f"{FILE}:5: duplicate source 'crm'"]),

    ("duplicate_column", """\
        sources:
          - name: crm
            tables:
              - name: accounts
                location: a.csv
                columns:
                  - {name: id}
                  - {name: name}
                  - {name: id}
        """, [f"{FILE}:9: duplicate column 'id'"]),

    ("bad_format_values", """\
        sources:
          - name: crm
            format:
              type: xls
              encoding: ebcdic
            tables:
              - name: accounts
                location: a.csv
                format: {delimiter: ";;"}
                columns:
                  - {name: id}
        """, [f"{FILE}:4: unknown format type 'xls'; use one of csv, parquet, json, xlsx, datev",
              f"{FILE}:5: unsupported encoding 'ebcdic'; use one of utf-8, cp1252, latin-1, iso-8859-15, utf-16",
              f"{FILE}:9: format.delimiter must be a single character, got ';;'"]),

    ("names_not_snake_case", """\
        sources:
          - name: CRM
            tables: []
          - name: erp
            tables:
              - name: Orders
                location: o.csv
                columns:
                  - {name: id}
        """, [f"{FILE}:2: source name 'CRM' must be lower snake_case",
              f"{FILE}:6: table name 'Orders' must be lower snake_case"]),

    ("no_columns", """\
        sources:
          - name: crm
            tables:
              - name: accounts
                location: a.csv
                columns: []
        """, [f"{FILE}:6: a source table needs at least one column under 'columns'"]),

    ("every_problem_reported", """\
        sources:
          - name: crm
            tables:
              - name: accounts
                location: ../a.csv
                primary_key: idd
                columns:
                  - {name: id, data_type: nummer}
        """, [f"{FILE}:8: unknown data_type 'nummer'; use varchar, integer, bigint, double, decimal(p,s), date, "
              "timestamp or boolean",
              f"{FILE}:5: location '../a.csv' must be a glob relative to the data directory, without '..'",
              f"{FILE}:6: primary_key column 'idd' is not declared; did you mean 'id'?"]),

    ("yaml_bad_indentation", """\
        sources:
          - name: crm
            tables:
            - name: accounts
               location: a.csv
        """, [f"{FILE}:5: invalid YAML: mapping values are not allowed here"]),

    ("yaml_tab", "sources:\n  - name: crm\n\ttables: []\n", [f"{FILE}:3: invalid YAML: found character '\\t' that cannot start any token"]),

    ("yaml_duplicate_key", """\
        sources:
          - name: crm
            tables:
              - name: accounts
                location: a.csv
                columns: [{name: id}]
                location: b.csv
        """, [f"{FILE}:7: invalid YAML: duplicate key 'location'"]),

    ("not_a_mapping", """\
        - just
        - a list
        """, [f"{FILE}:1: expected a mapping with a 'sources' list"]),
]


@pytest.mark.parametrize("text, expected", [pytest.param(dedent(t), e, id=i) for i, t, e in CASES])
def test_problem(text: str, expected: list[str]):
    assert problems(text) == expected
