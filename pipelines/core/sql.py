"""Quoting through sqlglot, so names and values from YAML never break generated SQL.

>>> ident('Konto Nr'), literal("O'Brien")
('"Konto Nr"', "'O''Brien'")
"""
from __future__ import annotations

from sqlglot import exp


def ident(name: str) -> str:
    return exp.to_identifier(name, quoted=True).sql(dialect="duckdb")


def table(qualified: str) -> str:
    """``schema.table`` with each part quoted."""
    return ".".join(ident(part) for part in qualified.split("."))


def literal(value: str) -> str:
    return exp.Literal.string(value).sql(dialect="duckdb")
