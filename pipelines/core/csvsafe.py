"""CSV cells that a spreadsheet will not run: OWASP's advice against CSV injection.

A text cell starting with ``=``, ``+``, ``-``, ``@``, a tab or a carriage return is read by Excel,
LibreOffice and Google Sheets as a formula (``@SUM(1+1)*cmd|' /C calc'!A0``). Such cells get a
leading single quote, which spreadsheets show as text. Numbers are left alone, even negative
ones: ``-12,50`` cannot hide a formula, and a quote would turn it into text.

>>> neutralise("=HYPERLINK(\\"http://x\\")"), neutralise("-12.5"), neutralise("Müller GmbH"), neutralise(-3)
('\\'=HYPERLINK("http://x")', '-12.5', 'Müller GmbH', -3)
"""
from __future__ import annotations

import re
from typing import Any

from sqlglot import exp

# the characters OWASP lists; a cell that is just a number is not a formula
FORMULA_START = "^[=+\\-@\t\r]"
PLAIN_NUMBER = "^[+-]?[0-9][0-9.,]*$"
_FORMULA, _NUMBER = re.compile(FORMULA_START), re.compile(PLAIN_NUMBER)


def neutralise(value: Any) -> Any:
    """The value, with a leading ``'`` if it is text a spreadsheet would read as a formula."""
    if isinstance(value, str) and _FORMULA.match(value) and not _NUMBER.match(value):
        return "'" + value
    return value


def neutralise_expr(column: str) -> exp.Expression:
    """The same for a text column in a DuckDB query, as a sqlglot projection named like the column."""
    col = exp.column(column, quoted=True)
    starts = exp.func("regexp_matches", col, exp.Literal.string(FORMULA_START))
    number = exp.func("regexp_matches", col, exp.Literal.string(PLAIN_NUMBER))
    case = exp.Case().when(exp.and_(starts, exp.not_(number)), exp.DPipe(this=exp.Literal.string("'"), expression=col))
    return exp.alias_(case.else_(col), column, quoted=True)
