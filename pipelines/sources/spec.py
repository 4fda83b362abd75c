"""The source declarations of ``models/sources.yml``: pydantic models, read by the one loader.

The shape follows dbt's sources (``sources: - name: <system>, tables: - name: ...``) with the
extras an extract needs: where the data is, how the file is written, key, ``updated_at`` and
column types. A system-level ``format`` is the default for its tables. The ``*Spec`` models are
the file as written; the frozen dataclasses below them (``SourceTable``, ``FileFormat``) are what
the engine reads, with the formats merged and the key columns required.
"""
from __future__ import annotations

import functools
import re
from dataclasses import dataclass, field, replace
from pathlib import Path, PurePosixPath
from typing import Any, ClassVar, Literal

import sqlglot
from pydantic import Field, field_validator
from sqlglot import exp

from pipelines.core import yamlfile
from pipelines.core.errors import Problem, ProjectError, did_you_mean
from pipelines.core.spec import Mapping, Spec, validate

FILE_TYPES = ("csv", "parquet", "json", "xlsx", "datev")
DELIVERIES = ("delta", "full")
ENCODINGS = ("utf-8", "cp1252", "latin-1", "iso-8859-15", "utf-16")
# The columns the ingest adds to every raw table (its name, type): which file, batch and line a row came from.
LINEAGE_COLUMNS = {
    "_system": "varchar",
    "_source_file": "varchar",
    "_batch_id": "bigint",
    "_loaded_at": "timestamp",
    "_line": "bigint",
}
_IDENTIFIER = re.compile(r"^[a-z][a-z0-9_]*$")
# A file name beside the extract with {name} or {stem} and no other placeholder (str.format runs on it).
_DONE_MARKER = re.compile(r"[^{}/\\]*(\{(name|stem)\}[^{}/\\]*)+")

_ENCODING_ALIASES = {"utf8": "utf-8", "windows-1252": "cp1252", "latin1": "latin-1", "iso-8859-1": "latin-1"}


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


def _snake_case(what: str):
    def check(cls, name: str) -> str:
        if not _IDENTIFIER.match(name):
            raise ValueError(f"{what} name {name!r} must be lower snake_case")
        return name
    return field_validator("name")(classmethod(check))


class FormatSpec(Spec):
    """``format:`` of a system or a table; what it does not say comes from the level above."""

    what: ClassVar[str] = "format"

    type: str | None = None
    delimiter: str | None = None
    quote: str | None = None
    escape: str | None = None
    encoding: str | None = None
    header: bool | None = None
    decimal_separator: str | None = None
    thousands_separator: str | None = None
    date_format: str | None = None
    timestamp_format: str | None = None
    sheet: str | None = None

    @field_validator("type")
    @classmethod
    def _known_type(cls, value: str) -> str:
        if value not in FILE_TYPES:
            raise ValueError(f"unknown format type {value!r}; use one of {', '.join(FILE_TYPES)}")
        return value

    @field_validator("encoding", mode="before")
    @classmethod
    def _known_encoding(cls, value: Any) -> str:
        enc = str(value).lower().replace("_", "-")
        enc = _ENCODING_ALIASES.get(enc, enc)
        if enc not in ENCODINGS:
            raise ValueError(f"unsupported encoding {value!r}; use one of {', '.join(ENCODINGS)}")
        return enc

    @field_validator("delimiter", "quote", "decimal_separator", mode="before")
    @classmethod
    def _one_character(cls, value: Any, info) -> Any:
        if not isinstance(value, str) or len(value) != 1:
            raise ValueError(f"format.{info.field_name} must be a single character, got {value!r}")
        return value

    def over(self, base: FileFormat) -> FileFormat:
        """``base`` with what this format says (a DATEV type brings DATEV's defaults first)."""
        values = {key: getattr(self, key) for key in self.model_fields_set}
        if values.get("type") == "datev" and base.type != "datev":
            base = replace(base, **DATEV_DEFAULTS)
        return replace(base, **values)


class ColumnSpec(Spec):
    what: ClassVar[str] = "column"

    name: str = Field(min_length=1, description="the column's name")
    data_type: str = "varchar"
    required: bool = False
    description: str | None = None
    meta: Mapping = Field(default_factory=dict)
    tags: Any = None

    @field_validator("data_type", mode="before")
    @classmethod
    def _duckdb_type(cls, raw: Any) -> str:
        try:
            return _normalised_type(str(raw).strip().lower())
        except (sqlglot.errors.ParseError, ValueError):
            raise ValueError(f"unknown data_type {raw!r}; use varchar, integer, bigint, double, decimal(p,s), "
                             "date, timestamp or boolean") from None


@functools.lru_cache(maxsize=1024)
def _normalised_type(text: str) -> str:
    """A declared type as DuckDB names it, worked out by sqlglot once per spelling (a project
    declares the same few types on every column)."""
    normalised = exp.DataType.build(text, dialect="duckdb").sql(dialect="duckdb").lower()
    return "varchar" if normalised == "text" else normalised


class TableSpec(Spec):
    what: ClassVar[str] = "table"

    name: str
    description: str | None = None
    format: FormatSpec | None = None
    columns: list[ColumnSpec] = Field(None, validate_default=True)
    location: str | None = None
    query: str | None = None
    connection: str | None = None
    primary_key: list[str] = []
    updated_at: str | None = None
    delivery: Literal["delta", "full"] = Field(
        "delta", description="'delta' (each file adds rows) or 'full' (each file is the whole table)")
    done_marker: str | None = None
    meta: Mapping = Field(default_factory=dict)
    tags: Any = None

    _name = _snake_case("table")

    @field_validator("columns", mode="before")
    @classmethod
    def _some_columns(cls, value: Any) -> Any:
        if value is None or value == []:
            raise ValueError("a source table needs at least one column under 'columns'")
        return value

    @field_validator("location")
    @classmethod
    def _relative(cls, location: str) -> str:
        path = PurePosixPath(location)
        if path.is_absolute() or ".." in path.parts or location.startswith("~"):
            raise ValueError(f"location {location!r} must be a glob relative to the data directory, without '..'")
        return location

    @field_validator("query")
    @classmethod
    def _sql(cls, query: str) -> str:
        try:
            sqlglot.parse_one(query, read="postgres")
        except sqlglot.errors.ParseError as exc:
            raise ValueError(f"query is not valid SQL: {str(exc).splitlines()[0]}") from None
        return query

    @field_validator("primary_key", mode="before")
    @classmethod
    def _one_or_more(cls, value: Any) -> Any:
        return [value] if isinstance(value, str) else value or []

    @field_validator("done_marker")
    @classmethod
    def _beside_the_extract(cls, marker: str) -> str:
        if not _DONE_MARKER.fullmatch(marker):
            raise ValueError(f"done_marker must name a file beside the extract using {{name}}, e.g. \"{{name}}.ok\" "
                             f"({{stem}}: the name without extension), got {marker!r}")
        return marker

    def problems(self):
        names: set[str] = set()
        for col in self.columns:
            if col.name in names:
                yield col.key_line("name"), f"duplicate column {col.name!r}"
            names.add(col.name)
        given = {key for key in ("location", "query", "connection") if getattr(self, key) or self.rejected(key)}
        if ("location" in given) == ("query" in given):
            yield self.line, (f"table {self.name!r} needs exactly one of 'location' (a file glob) or "
                              "'query' (SQL on a connection)")
        if "query" in given and "connection" not in given:
            yield self.line, f"table {self.name!r} has a query but no 'connection'; name one declared under 'connections'"
        for col in self.primary_key:
            if col not in names:
                yield self.key_line("primary_key"), f"primary_key column {col!r} is not declared{did_you_mean(col, names)}"
        if self.updated_at is not None and self.updated_at not in names:
            yield self.key_line("updated_at"), (f"updated_at column {self.updated_at!r} is not declared"
                                                f"{did_you_mean(self.updated_at, names)}")


class SystemSpec(Spec):
    what: ClassVar[str] = "source system"

    name: str
    description: str | None = None
    owner: str | None = None
    format: FormatSpec | None = None
    tables: list[TableSpec] = Field(None, validate_default=True)
    meta: Mapping = Field(default_factory=dict)
    tags: Any = None

    _name = _snake_case("source")

    def problems(self):
        seen: set[str] = set()
        for table in self.tables:
            if table.name in seen:
                yield table.key_line("name"), f"duplicate table {table.name!r} in source {self.name!r}"
            seen.add(table.name)


class ConnectionSpec(Spec):
    what: ClassVar[str] = "connection"

    kind: Literal["postgres"] = Field("postgres", description="'postgres'")
    url_env: str = Field(min_length=1, description="the environment variable holding its URL")
    description: str | None = None


class SourcesSpec(Spec):
    """``models/sources.yml`` as written."""

    what: ClassVar[str] = "sources file"
    shape: ClassVar[str] = "a mapping with a 'sources' list"

    version: Any = None
    connections: dict[str, ConnectionSpec] = {}
    sources: list[SystemSpec] = Field(None, validate_default=True)

    def problems(self):
        seen: set[str] = set()
        for system in self.sources:
            if system.name in seen:
                yield system.key_line("name"), f"duplicate source {system.name!r}"
            seen.add(system.name)
            for table in system.tables:
                if table.connection is not None and table.connection not in self.connections:
                    yield table.key_line("connection"), (
                        f"unknown connection {table.connection!r}{did_you_mean(table.connection, set(self.connections))}"
                        "; declare it under 'connections'")
                fmt = self.format_of(system, table)
                if fmt.thousands_separator and fmt.thousands_separator == fmt.decimal_separator:
                    yield (table.format or system.format).line, \
                        "format.thousands_separator equals decimal_separator; they must differ"

    @staticmethod
    def format_of(system: SystemSpec, table: TableSpec) -> FileFormat:
        fmt = system.format.over(FileFormat()) if system.format else FileFormat()
        return table.format.over(fmt) if table.format else fmt

    def project(self, file: str) -> SourcesProject:
        """The engine's view: formats merged, key columns required."""
        connections = {name: Connection(name, c.kind, c.url_env) for name, c in self.connections.items()}
        return SourcesProject(tables=tuple(
            SourceTable(
                system=system.name, name=t.name, location=t.location, query=t.query, connection=t.connection,
                # Key columns must be present in every row: they are required.
                columns=tuple(Column(c.name, c.data_type, c.required or c.name in t.primary_key,
                                     c.description or "", c.line) for c in t.columns),
                format=self.format_of(system, t), primary_key=tuple(t.primary_key), updated_at=t.updated_at,
                description=t.description or "", owner=system.owner or "", delivery=t.delivery,
                done_marker=t.done_marker, file=file, line=t.line)
            for system in self.sources for t in system.tables), connections=connections)


def parse_sources(doc: Any, file: str) -> SourcesProject:
    """A parsed sources file; raises ``ProjectError`` listing every problem."""
    spec, problems = validate(SourcesSpec, doc, file)
    if problems:
        raise ProjectError(problems)
    return spec.project(file)


def load_sources(path: Path, display_name: str | None = None) -> SourcesProject:
    """Read and validate a sources file; raises ``ProjectError`` listing every problem."""
    name = display_name or str(path)
    if not path.is_file():
        raise ProjectError([Problem(name, None, "sources file not found; fix: create it or set [tool.kontor] sources")])
    return parse_sources(yamlfile.load(path, name), name)
