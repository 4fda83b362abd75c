"""Column-level lineage from sqlglot: which upstream columns each model column is made of.

``upstream(compiled, 'marts', 'revenue', 'net_amount')`` gives the direct upstream columns;
``trace`` follows them down to ``raw.*`` and from there to the declared source files.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from sqlglot import exp
from sqlglot.lineage import lineage as sqlglot_lineage

from pipelines.models.compile import CompiledProject


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


def upstream(compiled: CompiledProject, model: str, column: str) -> list[ColumnRef]:
    """The table columns the model's ``column`` is computed from (one step up)."""
    cm = compiled.models[model]
    if cm.ast is None:
        return []
    try:
        root = sqlglot_lineage(column, cm.ast.copy(), schema=compiled.schema, dialect="duckdb")
    except Exception:  # sqlglot cannot trace every construct; unknown lineage is shown as none
        return []
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


def model_lineage(compiled: CompiledProject, model: str) -> dict[str, list[ColumnRef]]:
    """Every output column of a model with its direct upstream columns."""
    return {col: upstream(compiled, model, col) for col in compiled.output_columns(model) or []}


def trace(compiled: CompiledProject, ref: ColumnRef, _seen: frozenset = frozenset()) -> LineageNode:
    """Follow a column down through models to raw tables and the source declaration behind them."""
    node = LineageNode(ref)
    if ref in _seen:
        return node
    if ref.schema == "raw":
        for table in compiled.project.sources.tables:
            if table.key == ref.table:
                # sqlglot folds identifiers to lower case (DuckDB ignores case): show the declared name.
                column = next((c.name for c in table.columns if c.name.lower() == ref.column.lower()), ref.column)
                node.ref = ColumnRef(ref.schema, ref.table, column)
                where = table.location or f"query on connection {table.connection}"
                node.origin = f"{where} column {column} ({table.file}:{table.line})"
        return node
    if ref.schema == "seeds" and ref.table in compiled.project.seeds:
        node.origin = f"{compiled.project.seeds[ref.table].rel_path} column {ref.column}"
        return node
    model = _model_by_relation(compiled, ref.schema, ref.table)
    if model is not None:
        node.upstream = [trace(compiled, up, _seen | {ref}) for up in upstream(compiled, model, ref.column)]
    return node
