"""Column-level lineage from sqlglot: which upstream columns each model column is made of.

``upstream(compiled, 'marts', 'revenue', 'net_amount')`` gives the direct upstream columns;
``trace`` follows them down to ``raw.*`` and from there to the declared source files.
"""
from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass, field

from sqlglot import exp
from sqlglot.lineage import Node
from sqlglot.lineage import lineage as sqlglot_lineage
from sqlglot.optimizer.normalize_identifiers import normalize_identifiers

from pipelines.models.compile import CompiledProject
from pipelines.models.project import seed_columns


@dataclass(frozen=True)
class ColumnRef:
    schema: str
    table: str
    column: str

    def __str__(self) -> str:
        return f"{self.schema}.{self.table}.{self.column}"


@dataclass
class LineageNode:
    ref: ColumnRef
    origin: str = ""                  # for raw columns: the source file glob or query
    upstream: list["LineageNode"] = field(default_factory=list)


def _model_by_relation(compiled: CompiledProject, schema: str, table: str) -> str | None:
    for name, cm in compiled.models.items():
        if cm.model.schema == schema and cm.model.name == table:
            return name
    return None


def _lineage(compiled: CompiledProject, model: str, column: str | None):
    # trim_selects=False: sqlglot would otherwise copy a trimmed SELECT into every node, for
    # display only; the table columns found are the same, at half the cost.
    return sqlglot_lineage(column, compiled.models[model].ast.copy(), schema=compiled.schema, dialect="duckdb",
                           trim_selects=False)


def _table_columns(compiled: CompiledProject, root: Node) -> list[ColumnRef]:
    """The table columns at the leaves of one output column's lineage graph."""
    found: list[ColumnRef] = []
    for node in root.walk():
        if isinstance(node.expression, exp.Table) or (node.source is not None and isinstance(node.source, exp.Table)
                                                       and not node.downstream):
            table = node.source if isinstance(node.source, exp.Table) else node.expression
            schema = table.db or "main"
            # The column as DuckDB created it, not sqlglot's lower-cased identifier.
            ref = ColumnRef(schema, table.name, compiled.column_name(schema, table.name, node.name.split(".")[-1]))
            if ref not in found:
                found.append(ref)
    # sqlglot walks some sources in set order, which varies with PYTHONHASHSEED: sort, so that
    # `kontor lineage` and the asset metadata are the same from run to run.
    return sorted(found, key=str)


def upstream(compiled: CompiledProject, model: str, column: str) -> list[ColumnRef]:
    """The table columns the model's ``column`` is computed from (one step up)."""
    if compiled.models[model].ast is None:
        return []
    try:
        root = _lineage(compiled, model, column)
    except Exception:  # sqlglot cannot trace every construct; unknown lineage is shown as none
        return []
    return _table_columns(compiled, root)


def model_lineage(compiled: CompiledProject, model: str) -> dict[str, list[ColumnRef]]:
    """Every output column of a model with its direct upstream columns.

    One sqlglot pass for all columns: it qualifies the query once and shares the walk between
    columns, where ``upstream`` per column would repeat both (three times slower for 200 models).
    A column that pass cannot key (or all of them, if it fails) is traced on its own, so the
    answer is ``upstream``'s for every column.
    """
    columns = compiled.output_columns(model) or []
    if not columns or compiled.models[model].ast is None:
        return {col: [] for col in columns}
    try:
        roots = _lineage(compiled, model, None)
    except Exception:  # one untraceable column must not cost the others their lineage
        roots = {}
    result = {}
    for col in columns:
        root = roots.get(_lineage_name(col))
        result[col] = _table_columns(compiled, root) if root is not None else upstream(compiled, model, col)
    return result


class LineageCache:
    """``model_lineage`` of every model, kept in ``<cache_dir>/column_lineage.json`` under a
    fingerprint of all it is computed from (every model's compiled SQL and relation, the declared
    source columns, seed headers, external relations). A run attaches each model's lineage as
    metadata; computing it needs sqlglot to infer every model's output columns (a second or more
    for 200 models), while the project's files have not changed since the last run: the cache is
    dbt's partial parse for lineage. Any change to any file of the project computes it afresh.
    """

    FILE = "column_lineage.json"

    def __init__(self, compiled: CompiledProject):
        self.compiled = compiled
        self.path = compiled.cache_dir / self.FILE if compiled.cache_dir else None
        self.fingerprint = self._fingerprint()
        self.entries: dict[str, dict[str, list[list[str]]]] = {}
        self.dirty = False
        if self.path is not None and self.path.is_file():
            try:
                data = json.loads(self.path.read_text(encoding="utf-8"))
            except (OSError, ValueError):      # a damaged cache is recomputed, never trusted
                data = {}
            if data.get("fingerprint") == self.fingerprint:
                self.entries = data.get("models") or {}

    def _fingerprint(self) -> str:
        c = self.compiled
        parts = [
            [(t.key, [(col.name, str(col.data_type)) for col in t.columns]) for t in c.project.sources.tables],
            [(s.schema, s.alias or s.name, seed_columns(s)) for s in c.project.seeds.values()],
            sorted((k, v[0], list(v[1])) for k, v in c.project.externals.items()),
            [(n, c.models[n].model.schema, c.models[n].model.name, c.models[n].code_version) for n in sorted(c.models)],
        ]
        return hashlib.sha256(json.dumps(parts, default=str).encode()).hexdigest()

    def get(self, model: str) -> dict[str, list[ColumnRef]]:
        found = self.entries.get(model)
        if found is None:
            computed = model_lineage(self.compiled, model)
            self.entries[model] = {col: [[r.schema, r.table, r.column] for r in refs] for col, refs in computed.items()}
            self.dirty = True
            return computed
        return {col: [ColumnRef(*r) for r in refs] for col, refs in found.items()}

    def save(self) -> None:
        """Written beside, then renamed: a run killed while writing leaves the old file or none."""
        if not self.dirty or self.path is None:
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_name(f".{self.FILE}.{os.getpid()}.tmp")
        tmp.write_text(json.dumps({"fingerprint": self.fingerprint, "models": self.entries}), encoding="utf-8")
        os.replace(tmp, self.path)
        self.dirty = False


def _lineage_name(column: str) -> str | None:
    """The name sqlglot keys a column by in its lineage (unquoted identifiers fold to lower case)."""
    try:
        return normalize_identifiers(column, dialect="duckdb").name
    except Exception:  # a name sqlglot cannot read as an identifier: traced on its own
        return None


def trace(compiled: CompiledProject, ref: ColumnRef, _seen: frozenset = frozenset()) -> LineageNode:
    """Follow a column down through models to raw tables and the source declaration behind them."""
    node = LineageNode(ref)
    if ref in _seen:
        return node
    if ref.schema == "raw":
        for table in compiled.project.sources.tables:
            if ref.table in (table.key, f"{table.key}__current"):
                # sqlglot folds identifiers to lower case (DuckDB ignores case): show the declared name.
                column = next((c.name for c in table.columns if c.name.lower() == ref.column.lower()), ref.column)
                node.ref = ColumnRef(ref.schema, ref.table, column)
                where = table.location or f"query on connection {table.connection}"
                node.origin = f"{where} column {column} ({table.file}:{table.line})"
        return node
    seed = next((s for s in compiled.project.seeds.values()
                 if (s.schema, s.alias or s.name) == (ref.schema, ref.table)), None)   # dbt seeds: any schema
    if seed is not None:
        node.origin = f"{seed.rel_path} column {ref.column}"
        return node
    model = _model_by_relation(compiled, ref.schema, ref.table)
    if model is not None:
        node.upstream = [trace(compiled, up, _seen | {ref}) for up in upstream(compiled, model, ref.column)]
    return node
