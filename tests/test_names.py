"""One name for one model: compile, lineage and run --select take every form; ambiguity lists the candidates."""
from __future__ import annotations

import warnings
from pathlib import Path

import pytest

from conftest import make_project
from pipelines.definitions import build_definitions
from pipelines.core.errors import KontorError
from pipelines.core.names import candidates, resolve
from pipelines.run import _selection
from test_end_to_end import kontor

SOURCES = """
sources:
  - name: shop
    format: {type: csv, delimiter: ";"}
    tables:
      - name: orders
        location: orders.csv
        columns: [{name: id, data_type: integer}, {name: amount, data_type: "decimal(10,2)"}]
"""
KEYS = ["raw/shop__orders", "staging/stg_orders", "marts/fct_orders", "marts/shop__orders", "entities/customer_golden"]


def test_every_form_resolves_to_one_key():
    for form in ("fct_orders", "marts.fct_orders", "marts/fct_orders", "MARTS.FCT_ORDERS"):
        assert resolve(form, KEYS) == "marts/fct_orders"
    assert resolve("entities.customer_golden", KEYS) == "entities/customer_golden"


def test_ambiguity_and_typos_name_the_candidates():
    assert candidates("shop__orders", KEYS) == ["marts/shop__orders", "raw/shop__orders"]
    with pytest.raises(KontorError, match=r"'shop__orders' is ambiguous: marts/shop__orders, raw/shop__orders; "
                                          r"fix: write one of them"):
        resolve("shop__orders", KEYS)
    assert resolve("raw.shop__orders", KEYS) == "raw/shop__orders"
    with pytest.raises(KontorError, match=r"unknown model 'fct_order'; did you mean 'marts/fct_orders'\?"):
        resolve("fct_order", KEYS)
    with pytest.raises(KontorError, match=r"unknown model 'staging.fct_orders'"):
        resolve("staging.fct_orders", KEYS)                      # a schema given is a schema meant


@pytest.fixture(scope="module")
def project(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("names")
    settings = make_project(root, SOURCES)
    (settings.data_dir / "orders.csv").write_text("id;amount\n1;2.50\n")
    for folder, name, sql in (("staging", "stg_orders", "select id, amount from {{ source('shop', 'orders') }}"),
                              ("marts", "fct_orders", "select id, amount * 2 as doubled from {{ ref('stg_orders') }}"),
                              ("marts", "shop__orders", "select id from {{ ref('stg_orders') }}")):
        (root / "models" / folder).mkdir(parents=True, exist_ok=True)
        (root / "models" / folder / f"{name}.sql").write_text(sql + "\n")
    return root


def test_compile_and_lineage_take_every_form(project: Path):
    outputs = {kontor(project, "compile", form).stdout for form in ("fct_orders", "marts.fct_orders", "marts/fct_orders")}
    assert len(outputs) == 1 and "doubled" in outputs.pop()
    traced = {kontor(project, "lineage", form).stdout
              for form in ("fct_orders.doubled", "marts.fct_orders.doubled", "marts/fct_orders.doubled")}
    assert len(traced) == 1
    assert "raw.shop__orders.amount" in traced.pop()
    ambiguous = kontor(project, "lineage", "shop__orders.id")
    assert ambiguous.returncode == 1 and "ambiguous: marts/shop__orders, raw/shop__orders" in ambiguous.stderr
    assert "raw.shop__orders.id" in kontor(project, "lineage", "raw.shop__orders.id").stdout


def test_run_select_takes_every_form(project: Path):
    from pipelines.core.settings import load_settings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        defs = build_definitions(load_settings(project, env={}))

    def selected(text: str) -> list[str]:
        return [k.to_user_string() for k in _selection(defs, [text])[0] if k.to_user_string() != "kontor/serving_copy"]

    assert selected("fct_orders") == selected("marts.fct_orders") == selected("marts/fct_orders") == ["marts/fct_orders"]
    assert selected("+fct_orders") == ["marts/fct_orders", "raw/shop__orders", "staging/stg_orders"]
    assert selected("stg_orders+") == ["marts/fct_orders", "marts/shop__orders", "staging/stg_orders"]
    assert selected("marts") == selected("group:marts") == ["marts/fct_orders", "marts/shop__orders"]
    with pytest.raises(KontorError, match="ambiguous: marts/shop__orders, raw/shop__orders"):
        selected("shop__orders")
    with pytest.raises(KontorError, match=r"no group 'mart'; did you mean 'marts'\?; groups: marts, raw, serving, staging"):
        selected("group:mart")
    with pytest.raises(KontorError, match=r"no asset or group of that name; did you mean 'marts/fct_orders'\?; groups: "):
        selected("fct_order")
    with pytest.raises(KontorError, match="groups: marts, raw, serving, staging"):
        selected("key:marts/fct_orders and")
