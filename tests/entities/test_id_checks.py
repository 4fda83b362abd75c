"""``id_checks``: the IBAN/VAT-ID checks that travel to Spark's executors by value.

The module imports nothing of Kontor (else an executor would need Kontor installed); the types'
``check`` is its functions; ``checker`` refuses to check where the libraries are not the ones
that made the version the cache records (an executor with another python-stdnum)."""
from __future__ import annotations

import ast
from pathlib import Path

import pytest

from pipelines.entities import id_checks
from pipelines.entities.types import TYPES


def test_the_module_imports_nothing_of_kontor():
    tree = ast.parse(Path(id_checks.__file__).read_text(encoding="utf-8"))
    imported = {alias.name.split(".")[0] for node in ast.walk(tree) if isinstance(node, ast.Import) for alias in node.names}
    imported |= {node.module.split(".")[0] for node in ast.walk(tree) if isinstance(node, ast.ImportFrom) and node.module}
    assert imported <= {"__future__", "typing", "schwifty", "stdnum", "socket", "sys"}, imported


@pytest.mark.parametrize("kind, value", [("iban", "de89 3704 0044 0532 0130 00"), ("iban", "DE89370400440532013001"),
                                         ("vat_id", "CHE-116.281.710"), ("vat_id", "116.281.710"), ("vat_id", "n/a")])
def test_the_types_check_is_the_modules(kind, value):
    assert TYPES[kind].check(value) == id_checks.check_value(kind, value)


def test_a_checker_refuses_other_library_versions():
    assert id_checks.checker(id_checks.id_checks_version())("vat_id", "DE136695976") == ("DE136695976", True)
    other = id_checks.checker("rules 2, python-stdnum 1.0, schwifty 2020.1.0")
    with pytest.raises(RuntimeError, match="the driver 'rules 2, python-stdnum 1.0, schwifty 2020.1.0'; fix: install"):
        other("vat_id", "DE136695976")
