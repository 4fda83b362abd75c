"""The source declarations of ``models/sources.yml``, validated with ``file:line`` problems.

The shape follows dbt's sources (``sources: - name: <system>, tables: - name: ...``) with the
extras an extract needs: where the data is, how the file is written, key, ``updated_at`` and
column types. A system-level ``format`` is the default for its tables.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

import sqlglot
from sqlglot import exp

from pipelines.core import yamlfile
from pipelines.core.errors import Problem, ProjectError, did_you_mean
from pipelines.core.yamlfile import LineDict

FILE_TYPES = ("csv", "parquet", "json", "xlsx", "datev")
DELIVERIES = ("delta", "full")
ENCODINGS = ("utf-8", "cp1252", "latin-1", "iso-8859-15", "utf-16")
_IDENTIFIER = re.compile(r"^[a-z][a-z0-9_]*$")
# A file name beside the extract with {name} or {stem} and no other placeholder (str.format runs on it).
_DONE_MARKER = re.compile(r"[^{}/\\]*(\{(name|stem)\}[^{}/\\]*)+")

_FORMAT_KEYS = {
    "type", "delimiter", "quote", "escape", "encoding", "header", "decimal_separator",
    "thousands_separator", "date_format", "timestamp_format", "sheet",
}
_TABLE_KEYS = {
    "name", "description", "location", "query", "connection", "format", "primary_key",
    "updated_at", "columns", "meta", "tags", "delivery", "done_marker",
}
_SYSTEM_KEYS = {"name", "description", "owner", "format", "tables", "meta", "tags"}
_COLUMN_KEYS = {"name", "data_type", "required", "description", "meta", "tags"}


@dataclass(frozen=True)
class FileFormat:
    type: str = "csv"
    delimiter: str = ","
    quote: str = '"'
    escape: str | None = None
    encoding: str = "utf-8"
    header: bool = True
    decimal_separator: str = "."
    thousands_separator: str | None = None
    date_format: str | None = None
    timestamp_format: str | None = None
    sheet: str | None = None
    # Not declared: set per file from a DATEV header line, the range a day-and-month date lies in.
    datev_period: tuple | None = None

    @property
    def reads_text(self) -> bool:
        """CSV-like: read as text by Kontor's CSV reader (DATEV exports are CSV with a preamble)."""
        return self.type in ("csv", "datev")


# DATEV's ASCII format: semicolons, Windows-1252, decimal comma, double quotes around text.
DATEV_DEFAULTS = {"delimiter": ";", "encoding": "cp1252", "decimal_separator": ",", "thousands_separator": None,
                  "quote": '"', "date_format": "%d%m%Y"}


@dataclass(frozen=True)
class Column:
    name: str
    data_type: str = "varchar"
    required: bool = False
    description: str = ""
    line: int = 0

    @property
    def is_text(self) -> bool:
        return self.data_type.startswith("varchar") or self.data_type == "text"


@dataclass(frozen=True)
class SourceTable:
    system: str
    name: str
    columns: tuple[Column, ...]
    location: str | None = None          # glob relative to the data directory
    query: str | None = None             # SQL on a named connection
    connection: str | None = None
    format: FileFormat = field(default_factory=FileFormat)
    primary_key: tuple[str, ...] = ()
    updated_at: str | None = None
    description: str = ""
    owner: str = ""
    delivery: str = "delta"              # delta: files add to the state; full: each file is the whole state
    done_marker: str | None = None       # "{name}.ok": load a file only once this file exists beside it
    file: str = ""                       # the YAML file it was declared in
    line: int = 0

    @property
    def key(self) -> str:
        """``<system>__<table>``: the raw table's name and the asset's name."""
        return f"{self.system}__{self.name}"

    @property
    def raw_table(self) -> str:
        return f"raw.{self.key}"

    def column(self, name: str) -> Column | None:
        return next((c for c in self.columns if c.name == name), None)


@dataclass(frozen=True)
class Connection:
    name: str
    kind: str
    url_env: str


@dataclass(frozen=True)
class SourcesProject:
    tables: tuple[SourceTable, ...]
    connections: dict[str, Connection]

    def table(self, key: str) -> SourceTable:
        for t in self.tables:
            if t.key == key:
                return t
        raise KeyError(key)


class _Checker:
    """Collects problems instead of stopping at the first, like a compiler."""

    def __init__(self, file: str):
        self.file = file
        self.problems: list[Problem] = []

    def add(self, line: int | None, message: str) -> None:
        self.problems.append(Problem(self.file, line, message))

    def unknown_keys(self, node: LineDict, allowed: set[str], what: str) -> None:
        for key in node:
            if key not in allowed:
                self.add(node.key_line(key), f"unknown key {key!r} in {what}{did_you_mean(str(key), allowed)}")

    def mapping(self, value: Any, line: int, what: str) -> LineDict | None:
        if isinstance(value, LineDict):
            return value
        self.add(line, f"{what} must be a mapping")
        return None

    def sequence(self, value: Any, line: int, what: str) -> list:
        if isinstance(value, list):
            return value
        self.add(line, f"{what} must be a list")
        return []


def _data_type(raw: Any, chk: _Checker, line: int) -> str:
    text = str(raw).strip().lower()
    try:
        built = exp.DataType.build(text, dialect="duckdb")
    except (sqlglot.errors.ParseError, ValueError):
        chk.add(line, f"unknown data_type {raw!r}; use varchar, integer, bigint, double, decimal(p,s), date, timestamp or boolean")
        return "varchar"
    text = built.sql(dialect="duckdb").lower()
    return "varchar" if text == "text" else text


def _format(node: Any, base: FileFormat, chk: _Checker, line: int) -> FileFormat:
    if node is None:
        return base
    fmt = chk.mapping(node, line, "format")
    if fmt is None:
        return base
    chk.unknown_keys(fmt, _FORMAT_KEYS, "format")
    values = {k: v for k, v in fmt.items() if k in _FORMAT_KEYS}
    if "type" in values and values["type"] not in FILE_TYPES:
        chk.add(fmt.key_line("type"), f"unknown format type {values['type']!r}; use one of {', '.join(FILE_TYPES)}")
        values.pop("type")
    if "encoding" in values:
        enc = str(values["encoding"]).lower().replace("_", "-")
        enc = {"utf8": "utf-8", "windows-1252": "cp1252", "latin1": "latin-1", "iso-8859-1": "latin-1"}.get(enc, enc)
        if enc not in ENCODINGS:
            chk.add(fmt.key_line("encoding"), f"unsupported encoding {values['encoding']!r}; use one of {', '.join(ENCODINGS)}")
            enc = "utf-8"
        values["encoding"] = enc
    for key in ("delimiter", "quote", "decimal_separator"):
        if key in values and (not isinstance(values[key], str) or len(values[key]) != 1):
            chk.add(fmt.key_line(key), f"format.{key} must be a single character, got {values[key]!r}")
            values.pop(key)
    if values.get("type") == "datev" and base.type != "datev":
        base = FileFormat(**{**base.__dict__, **DATEV_DEFAULTS})
    merged = FileFormat(**{**base.__dict__, **values})
    if merged.thousands_separator and merged.thousands_separator == merged.decimal_separator:
        chk.add(fmt.line, "format.thousands_separator equals decimal_separator; they must differ")
    return merged


def _columns(node: Any, chk: _Checker, line: int) -> tuple[Column, ...]:
    columns: list[Column] = []
    seen: set[str] = set()
    for item in chk.sequence(node, line, "columns"):
        col = chk.mapping(item, line, "a column")
        if col is None:
            continue
        chk.unknown_keys(col, _COLUMN_KEYS, "column")
        name = col.get("name")
        if not isinstance(name, str) or not name:
            chk.add(col.line, "column without a name")
            continue
        if name in seen:
            chk.add(col.key_line("name"), f"duplicate column {name!r}")
        seen.add(name)
        columns.append(Column(
            name=name,
            data_type=_data_type(col.get("data_type", "varchar"), chk, col.key_line("data_type")),
            required=bool(col.get("required", False)),
            description=str(col.get("description", "") or ""),
            line=col.line,
        ))
    if not columns:
        chk.add(line, "a source table needs at least one column under 'columns'")
    return tuple(columns)


def _check_location(location: str, chk: _Checker, line: int) -> None:
    path = PurePosixPath(location)
    if path.is_absolute() or ".." in path.parts or location.startswith("~"):
        chk.add(line, f"location {location!r} must be a glob relative to the data directory, without '..'")


def _table(system: LineDict, node: LineDict, connections: dict[str, Connection], chk: _Checker) -> SourceTable | None:
    chk.unknown_keys(node, _TABLE_KEYS, "table")
    name = node.get("name")
    if not isinstance(name, str) or not _IDENTIFIER.match(name):
        chk.add(node.line, f"table name {name!r} must be lower snake_case")
        return None
    sys_format = _format(system.get("format"), FileFormat(), chk, system.key_line("format"))
    fmt = _format(node.get("format"), sys_format, chk, node.key_line("format"))
    columns = _columns(node.get("columns"), chk, node.key_line("columns") if "columns" in node else node.line)
    names = {c.name for c in columns}
    location, query, connection = node.get("location"), node.get("query"), node.get("connection")
    if bool(location) == bool(query):
        chk.add(node.line, f"table {name!r} needs exactly one of 'location' (a file glob) or 'query' (SQL on a connection)")
    if location is not None:
        _check_location(str(location), chk, node.key_line("location"))
    if query is not None:
        if connection is None:
            chk.add(node.line, f"table {name!r} has a query but no 'connection'; name one declared under 'connections'")
        elif connection not in connections:
            chk.add(node.key_line("connection") if "connection" in node else node.line,
                    f"unknown connection {connection!r}{did_you_mean(str(connection), set(connections))}; declare it under 'connections'")
        try:
            sqlglot.parse_one(str(query), read="postgres")
        except sqlglot.errors.ParseError as exc:
            chk.add(node.key_line("query"), f"query is not valid SQL: {str(exc).splitlines()[0]}")
    pk = node.get("primary_key") or ()
    pk = (pk,) if isinstance(pk, str) else tuple(pk)
    for col in pk:
        if col not in names:
            chk.add(node.key_line("primary_key"), f"primary_key column {col!r} is not declared{did_you_mean(col, names)}")
    updated_at = node.get("updated_at")
    if updated_at is not None and updated_at not in names:
        chk.add(node.key_line("updated_at"), f"updated_at column {updated_at!r} is not declared{did_you_mean(str(updated_at), names)}")
    delivery = node.get("delivery", "delta")
    if delivery not in DELIVERIES:
        chk.add(node.key_line("delivery"), f"delivery must be 'delta' (each file adds rows) or 'full' (each file is the "
                                           f"whole table), got {delivery!r}")
        delivery = "delta"
    done_marker = node.get("done_marker")
    if done_marker is not None and not (isinstance(done_marker, str) and _DONE_MARKER.fullmatch(done_marker)):
        chk.add(node.key_line("done_marker"), f"done_marker must name a file beside the extract using {{name}}, "
                                              f"e.g. \"{{name}}.ok\" ({{stem}}: the name without extension), got {done_marker!r}")
        done_marker = None
    # Key columns must be present in every row: make them required.
    columns = tuple(Column(**{**c.__dict__, "required": True}) if c.name in pk else c for c in columns)
    return SourceTable(
        system=system["name"], name=name, columns=columns, location=location, query=query,
        connection=connection, format=fmt, primary_key=pk, updated_at=updated_at,
        description=str(node.get("description", "") or ""), owner=str(system.get("owner", "") or ""),
        delivery=delivery, done_marker=done_marker, file=chk.file, line=node.line,
    )


def _connections(node: Any, chk: _Checker) -> dict[str, Connection]:
    result: dict[str, Connection] = {}
    if node is None:
        return result
    conns = chk.mapping(node, 1, "connections")
    for name, spec in (conns or {}).items():
        spec = chk.mapping(spec, conns.key_line(name), f"connection {name!r}")
        if spec is None:
            continue
        chk.unknown_keys(spec, {"kind", "url_env", "description"}, "connection")
        if spec.get("kind", "postgres") != "postgres":
            chk.add(spec.key_line("kind"), f"unknown connection kind {spec.get('kind')!r}; use postgres")
        url_env = spec.get("url_env")
        if not isinstance(url_env, str) or not url_env:
            chk.add(spec.line, f"connection {name!r} needs url_env: the environment variable holding its URL")
            continue
        result[name] = Connection(name=name, kind="postgres", url_env=url_env)
    return result


def parse_sources(doc: Any, file: str) -> SourcesProject:
    chk = _Checker(file)
    if not isinstance(doc, LineDict):
        raise ProjectError([Problem(file, 1, "expected a mapping with a 'sources' list")])
    chk.unknown_keys(doc, {"version", "sources", "connections"}, "sources file")
    connections = _connections(doc.get("connections"), chk)
    tables: list[SourceTable] = []
    systems_seen: set[str] = set()
    for system in chk.sequence(doc.get("sources"), doc.key_line("sources"), "sources"):
        system = chk.mapping(system, doc.line, "a source system")
        if system is None:
            continue
        chk.unknown_keys(system, _SYSTEM_KEYS, "source system")
        sys_name = system.get("name")
        if not isinstance(sys_name, str) or not _IDENTIFIER.match(sys_name):
            chk.add(system.line, f"source name {sys_name!r} must be lower snake_case")
            continue
        if sys_name in systems_seen:
            chk.add(system.key_line("name"), f"duplicate source {sys_name!r}")
        systems_seen.add(sys_name)
        table_names: set[str] = set()
        for node in chk.sequence(system.get("tables"), system.key_line("tables"), "tables"):
            node = chk.mapping(node, system.line, "a table")
            if node is None:
                continue
            table = _table(system, node, connections, chk)
            if table is None:
                continue
            if table.name in table_names:
                chk.add(node.key_line("name"), f"duplicate table {table.name!r} in source {sys_name!r}")
            table_names.add(table.name)
            tables.append(table)
    if chk.problems:
        raise ProjectError(chk.problems)
    return SourcesProject(tables=tuple(tables), connections=connections)


def load_sources(path: Path, display_name: str | None = None) -> SourcesProject:
    """Read and validate a sources file; raises ``ProjectError`` listing every problem."""
    name = display_name or str(path)
    if not path.is_file():
        raise ProjectError([Problem(name, None, "sources file not found; fix: create it or set [tool.kontor] sources")])
    return parse_sources(yamlfile.load(path, name), name)
