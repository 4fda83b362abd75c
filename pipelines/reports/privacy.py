"""Which report dimensions carry master-data names, read from the SQL (sqlglot), not from a flag.

A dimension column of a KPI query is traced through CTEs, subqueries and ``select *`` to the
warehouse columns it is built from. It is personal when one of them is a name-like column
(name, first/last name, e-mail, contact, address, IBAN ...) of a master-data table (customer,
supplier, contact, person, debitor/kreditor, golden record ...). A column that cannot be traced
counts as personal: the check fails closed.

>>> sql = '''with c as (select customer_no, name as customer_name from marts.dim_customer)
...          select o.region, coalesce(c.customer_name, o.customer_no) as customer, sum(o.amount) as value
...          from marts.fct_orders o left join c using (customer_no) group by all'''
>>> trace(sql, "customer")
(True, ['marts.dim_customer.name', 'marts.fct_orders.customer_no'])
>>> trace(sql, "region")
(False, ['marts.fct_orders.region'])
"""
from __future__ import annotations

import re

import sqlglot
from sqlglot import exp

from pipelines.core import parsed

MASTER_TABLE = re.compile(r"customer|supplier|vendor|client|contact|person|employee|debitor|kreditor|partner|"
                          r"account|golden|member|kunde|lieferant|kontakt|mitarbeiter", re.I)
PERSONAL_COLUMN = re.compile(r"name|first|last|e_?mail|phone|contact|person|street|address|iban|owner|"
                             r"vorname|strasse|straße|anschrift|telefon", re.I)
UNKNOWN = "?"


def trace(sql: str, column: str) -> tuple[bool, list[str]]:
    """Whether output ``column`` of ``sql`` carries master-data names, and the ``table.column``
    sources found (``?`` where a source cannot be told)."""
    try:
        tree = parsed.parse_one(sql, read="duckdb")
    except sqlglot.errors.ParseError:
        return True, [UNKNOWN]
    ctes = {cte.alias_or_name: cte.this for cte in tree.find_all(exp.CTE)}
    leaves: set[str] = set()
    branches = _branches(tree)
    for index, branch in enumerate(branches):
        name = column if index == 0 else _positional(branches[0], branch, column)
        found = _output(branch, name, ctes, 0) if name else None
        leaves |= {UNKNOWN} if found is None else found
    if not branches:
        leaves = {UNKNOWN}
    return any(_personal(leaf) for leaf in leaves) or bool(MASTER_TABLE.search(column)), sorted(leaves)


def _positional(first: exp.Select, branch: exp.Select, column: str) -> str | None:
    """A union takes its column names from its first branch: the name ``column`` has in ``branch``."""
    names = [p.alias_or_name for p in first.expressions]
    if column not in names or len(branch.expressions) <= names.index(column):
        return None
    projection = branch.expressions[names.index(column)]
    return projection.alias_or_name or _anonymous(projection, column)


def _anonymous(projection: exp.Expression, column: str) -> str:
    # An unnamed projection ('supplier', a || b): give it the column's name to trace it.
    projection.replace(exp.alias_(projection.copy(), column))
    return column


def _personal(leaf: str) -> bool:
    if leaf == UNKNOWN or leaf.endswith("." + UNKNOWN):
        return True
    table, _, col = leaf.rpartition(".")
    return bool(MASTER_TABLE.search(table) and PERSONAL_COLUMN.search(col))


def _branches(query: exp.Expression) -> list[exp.Select]:
    if isinstance(query, exp.Union):
        return _branches(query.left) + _branches(query.right)
    if isinstance(query, exp.Subquery):
        return _branches(query.this)
    return [query] if isinstance(query, exp.Select) else []


def _output(select: exp.Select, column: str, ctes: dict, depth: int) -> set[str] | None:
    """The sources of output ``column`` of one select; None when the select has no such column."""
    if depth > 20:
        return {UNKNOWN}
    for projection in select.expressions:
        if projection.alias_or_name == column and not isinstance(projection, exp.Star):
            found: set[str] = set()
            for ref in projection.find_all(exp.Column):
                found |= _column(select, ref.table, ref.name, ctes, depth + 1)
            return found                        # a literal ('customer' as entity) has no source
    if any(isinstance(p, exp.Star) or isinstance(p, exp.Column) and isinstance(p.this, exp.Star)
           for p in select.expressions):
        return _column(select, "", column, ctes, depth + 1)
    return None


def _sources(select: exp.Select) -> dict[str, exp.Expression]:
    found = {}
    for node in [select.args.get("from_") or select.args.get("from"), *(select.args.get("joins") or [])]:
        if node is None:
            continue
        source = node.this
        found[source.alias_or_name] = source
    return found


def _column(select: exp.Select, qualifier: str, name: str, ctes: dict, depth: int) -> set[str]:
    sources = _sources(select)
    if qualifier:
        picked = [sources[qualifier]] if qualifier in sources else []
        if not picked:
            return {f"{qualifier}.{UNKNOWN}"}
    else:
        picked = list(sources.values())
    leaves: set[str] = set()
    resolved = False
    for source in picked:
        if isinstance(source, exp.Table) and not source.db and source.name in ctes:
            for branch in _branches(ctes[source.name]):
                found = _output(branch, name, ctes, depth + 1)
                resolved = resolved or found is not None
                leaves |= found or set()
        elif isinstance(source, exp.Table):
            resolved = True
            if source.name == "report_periods" and not source.db:
                continue                        # the report's own periods table: dates, no names
            leaves.add(f"{source.db}.{source.name}.{name}" if source.db else f"{source.name}.{name}")
        elif isinstance(source, exp.Subquery):
            for branch in _branches(source.this):
                found = _output(branch, name, ctes, depth + 1)
                resolved = resolved or found is not None
                leaves |= found or set()
        else:
            leaves.add(UNKNOWN)
    return leaves if resolved or leaves else {UNKNOWN}      # a column from nowhere: cannot tell
