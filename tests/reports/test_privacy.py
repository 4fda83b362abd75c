"""Private by default: dimensions whose values come from master-data names are pseudonymised in
prompts without anyone setting a flag, found from the SQL; opting out of it is checked."""
from __future__ import annotations

import json
from datetime import datetime

import duckdb
import pytest

from pipelines.core.errors import ProjectError
from pipelines.reports.facts import compute_facts
from pipelines.core.services import services_from_env
from pipelines.reports.narrative import llm_config, write_narrative
from pipelines.reports.privacy import trace
from pipelines.reports.spec import find_report
from reports.conftest import copy_project
from reports.servers import LlmServer, correct

NOW = datetime(2026, 11, 22, 8, 0)

# A report somebody adds later: a customer dimension under a name no rule knows ("abnehmer"),
# built through a CTE, a subquery and `select *`.
KPI = """
with kunden as (select * from marts.bridge_customer_source),
     zeilen as (select * from (select * from marts.fct_order_lines) where not is_cancelled)
select report_periods.period_start, k.customer_name as abnehmer, z.region as gebiet, sum(z.net_amount) as value
from report_periods
join zeilen z on z.order_date between report_periods.period_start and report_periods.period_end
left join kunden k on k.customer_system = z.customer_system and k.customer_source_id = z.customer_source_id
group by all
"""


def add_report(root, dimensions: str, narrative: str = "") -> None:
    folder = root / "reports" / "abnehmer"
    (folder / "kpis").mkdir(parents=True)
    (folder / "kpis" / "umsatz.sql").write_text(KPI)
    (folder / "template.html.j2").write_text("{{ facts.title }}")
    lines = ["title: Umsatz nach Abnehmer", "language: de", "grain: month", "data_through: data_through.sql",
             "dimensions:", *("  " + line for line in dimensions.splitlines()), *([narrative] if narrative else []),
             "kpis:", "  - {name: umsatz, label: Umsatz, sql: kpis/umsatz.sql, unit: EUR, drivers: [abnehmer, gebiet]}"]
    (folder / "report.yml").write_text("\n".join(lines) + "\n")
    (folder / "data_through.sql").write_text("select max(order_date) from marts.fct_orders")


def test_a_new_customer_dimension_is_pseudonymised_without_a_flag(demo, tmp_path):
    root = copy_project(demo, tmp_path)
    add_report(root, "abnehmer: {label: Abnehmer}\ngebiet: {label: Gebiet}")
    spec = find_report(root, "abnehmer")
    assert spec.dimensions["abnehmer"].personal and not spec.dimensions["gebiet"].personal
    assert "marts.bridge_customer_source.customer_name" in spec.dimensions["abnehmer"].sources
    con = duckdb.connect(str(demo.settings.warehouse_path), read_only=True)
    try:
        facts = compute_facts(con, spec, "2026-10", NOW)
        names = {n for (n,) in con.execute("select customer_name from marts.bridge_customer_source").fetchall()}
    finally:
        con.close()
    with LlmServer(correct) as server:
        result, _ = write_narrative(facts, spec, llm_config(spec, services_from_env(server.env()).llm))
    prompt = json.dumps(server.requests[0]["messages"], ensure_ascii=False)
    top = [m["member"] for d in facts["kpis"][0]["drivers"] if d["dims"] == ["abnehmer"] for m in d["members"]]
    assert top and "[Kunde A]" in prompt and not [n for n in names if n in prompt]
    assert result.kind == "llm" and any(name in result.text for name in top)     # names back for the reader


def test_opting_out_of_pseudonyms_for_master_data_names_is_an_error_naming_the_sql(demo, tmp_path):
    root = copy_project(demo, tmp_path)
    add_report(root, "abnehmer: {label: Abnehmer, personal: false}\ngebiet: {label: Gebiet}")
    with pytest.raises(ProjectError) as error:
        find_report(root, "abnehmer")
    message = str(error.value)
    assert "reports/abnehmer/report.yml:6" in message and "reports/abnehmer/kpis/umsatz.sql" in message
    assert "marts.bridge_customer_source.customer_name" in message and "allow_personal_data" in message


def test_a_report_may_send_names_on_purpose(demo, tmp_path):
    root = copy_project(demo, tmp_path)
    add_report(root, "abnehmer: {label: Abnehmer, personal: false}\ngebiet: {label: Gebiet}",
               "narrative: {allow_personal_data: true}")
    assert not find_report(root, "abnehmer").dimensions["abnehmer"].personal


@pytest.mark.parametrize("sql,column,personal", [
    ("select region as r from marts.fct_orders", "r", False),
    ("select c.name as r from marts.fct_orders o join entities.customer_golden c using (golden_id)", "r", True),
    ("select first_name || ' ' || last_name as who from staging.stg_crm__contacts", "who", True),
    ("select email as who from staging.stg_crm__accounts", "who", True),
    ("select s.display_name as lieferant from (select * from marts.dim_supplier) s", "lieferant", True),
    ("with a as (select * from marts.dim_items) select a.product_group as pg from a", "pg", False),
    ("select 'customer' as entity union all select 'supplier'", "entity", False),
    ("select x.nm as kunde from marts.t x", "kunde", True),                 # the name says customer
    ("select nope.nm as d from marts.t x", "d", True),                      # cannot be traced: personal
    ("with a as (select 1 as y) select a.z as d from a", "d", True),         # a column from nowhere
])
def test_lineage_decides(sql, column, personal):
    assert trace(sql, column)[0] is personal
