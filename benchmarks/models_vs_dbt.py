"""Benchmark: Kontor's SQL models against dbt-duckdb on the same 200-model project and warehouse.

Run:  .venv/bin/python benchmarks/models_vs_dbt.py [--scale 1] [--repeats 3] [--models 200] [--workdir DIR] [--profile]
      [--history-variants instance,none,postgres] [--postgres-url postgresql://postgres@127.0.0.1:5432]

Prints one JSON object on stdout (progress goes to stderr). Steps:

1. dbt gets its own virtual environment, ``<workdir>/dbt-venv`` (``pip install dbt-duckdb``), never
   Kontor's. dbt-core 1.12 depends on ``dbt-core-experimental-parser``, whose sdist downloads a wheel
   from GitHub at build time; where that fails (a closed network), ``dbt-core<1.12`` is installed.
2. The demo extracts (``pipelines.demo.generate``) are loaded once with Kontor (``group:raw``); the
   resulting warehouse file is kept as the snapshot every measurement starts from.
3. A project of ``--models`` models is generated once, as Jinja SQL that both tools accept
   (``ref``, ``source``, ``config(materialized=...)``, ``is_incremental()``/``this``): 13 staging views
   on the raw tables, then chains and fans of models that filter, join, aggregate and window the
   order lines, invoices and purchase orders. Kontor's project and dbt's project get the same
   ``.sql`` files; dbt additionally has ``dbt_project.yml``, ``profiles.yml``, a ``sources:`` file
   pointing at the ``raw`` schema, and a ``generate_schema_name`` override so that models land in the
   schema named by their folder, as in Kontor.
4. Measured ``--repeats`` times, alternating which tool goes first, each on a fresh copy of the
   raw snapshot: Kontor's compile (``load_models`` + ``compile_project`` in a fresh process, imports
   excluded), ``kontor run --select group:<folder> ...`` (the CLI in a subprocess: the real Dagster
   graph, serving copy included; the serving step's own time is read from the run's event log),
   and ``dbt run`` in the dbt venv (subprocess). Times are wall clock. In the same repeats, the
   ``kontor run`` is also made with the run history kept otherwise (``--history-variants``, JSON
   ``history_variants``, each with its ratio to the same repeats' dbt): ``instance`` (the default,
   Dagster's SQLite storage; the first variant listed is ``kontor_run``), ``none``
   (``[tool.kontor] history = "none"``: in memory) and ``postgres`` (Dagster's Postgres storage,
   with ``--postgres-url``; its database is restored from a template before each run). A variant
   that fails is reported with its error; the JSON is printed all the same.
5. Every model's relation is compared between the two warehouses: relation kind, column names
   and types, row count, and an order-insensitive checksum (``sum(hash(col))`` per column).
6. With ``--profile`` (or when a target is missed) one more Kontor run is made in-process with its
   phases timed: imports, definition build (compile, column inference, asset construction),
   Dagster run launch, per-step overhead, SQL by statement kind, column lineage, serving copy,
   garbage collection; the run goes under cProfile, which gives Dagster's event writes and
   asset-record reads (by module path and function name, no private import) and the hot spots
   (own and cumulative time); plus the bare engine (``stage.build`` in a loop on one connection)
   as Kontor's floor; and ``what_if``: the same run with one cost changed (no run-time lineage, an
   in-memory instance, one step per model).

Kontor's models run as one step (the default); ``--per-model`` measures one step per model.
"""
from __future__ import annotations

import argparse
import gc
import json
import os
import platform
import random
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
KONTOR_PY = Path(sys.executable)                 # the venv this script runs in (a worktree has none of its own)
KONTOR_CLI = KONTOR_PY.parent / "kontor"
TARGETS = {"compile_s": 2.0, "ratio_kontor_to_dbt": 0.5}
FOLDERS = ("staging", "intermediate", "marts")
DBT_PROJECT_NAME = "kontor_bench"
STICHTAG = "2026-10-31"


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


# --------------------------------------------------------------------------------------------
# The generated project: one set of Jinja SQL files for both tools
# --------------------------------------------------------------------------------------------

STAGING = {
    "crm__accounts": """select account_id, account_name, city, country, industry, account_type, created_at, modified_at
from {{ source('crm', 'accounts') }}""",
    "crm__contacts": """select contact_id, account_id, first_name, last_name, lower(email) as email, position
from {{ source('crm', 'contacts') }}""",
    "erp__customers": """select customer_no, name1 as customer_name, city, country_code, region, payment_terms_days,
       credit_limit, coalesce(blocked, false) as blocked, created_at
from {{ source('erp', 'customers') }}""",
    "erp__suppliers": """select supplier_no, name1 as supplier_name, city, country_code, payment_terms_days
from {{ source('erp', 'suppliers') }}""",
    "erp__items": """select item_no, description, product_group, product_group_name, unit, list_price, standard_cost, supplier_no
from {{ source('erp', 'items') }}""",
    "erp__orders": """select order_no, customer_no, order_date, cast(date_trunc('month', order_date) as date) as order_month,
       region, status, currency, updated_at
from {{ source('erp', 'orders') }}""",
    "erp__order_lines": """select order_no, line_no, item_no, quantity, unit_price, discount_pct, net_amount
from {{ source('erp', 'order_lines') }}""",
    "erp__purchase_orders": """select po_no, supplier_no, order_date, item_no, quantity, net_amount
from {{ source('erp', 'purchase_orders') }}""",
    "accounting__debitoren": """select Konto as konto, Name as name, Ort as city, Land as country, UStIdNr as vat_id,
       Zahlungsziel as payment_terms_days, Kreditlimit as credit_limit, GeaendertAm as changed_on
from {{ source('accounting', 'debitoren') }}""",
    "accounting__kreditoren": """select Konto as konto, Name as name, Ort as city, Land as country, UStIdNr as vat_id,
       Zahlungsziel as payment_terms_days, GeaendertAm as changed_on
from {{ source('accounting', 'kreditoren') }}""",
    "accounting__rechnungen": """select Belegnr as belegnr, Belegdatum as belegdatum, Konto as konto, Faellig as faellig,
       Netto as netto, Steuer as steuer, Brutto as brutto, Waehrung as waehrung, Auftragsnr as auftragsnr
from {{ source('accounting', 'rechnungen') }}""",
    "accounting__zahlungen": """select "Belegfeld 2" as zahlungsnr, Belegdatum as datum, Konto as konto, "Belegfeld 1" as belegnr, -Umsatz as betrag
from {{ source('accounting', 'zahlungen') }}""",
    "accounting__offene_posten": """select Belegnr as belegnr, Konto as konto, Belegdatum as belegdatum, Faellig as faellig,
       Offen as offen, Stichtag as stichtag
from {{ source('accounting', 'offene_posten') }}""",
}

BASE = {
    # name: (type, materialization, sql)
    "int_order_lines_enriched": ("LINES", "table", """select l.order_no, l.line_no, l.item_no, o.customer_no, o.order_date, o.order_month,
       o.region, o.status, i.product_group, l.quantity, l.net_amount,
       l.quantity * i.standard_cost as cost_amount,
       l.net_amount - l.quantity * i.standard_cost as margin
from {{ ref('stg_erp__order_lines') }} l
join {{ ref('stg_erp__orders') }} o on o.order_no = l.order_no
join {{ ref('stg_erp__items') }} i on i.item_no = l.item_no"""),
    "int_invoices": ("INV", "table", """with paid as (
    select belegnr, sum(betrag) as paid, max(datum) as last_payment, count(*) as payments
    from {{ ref('stg_accounting__zahlungen') }}
    group by belegnr
)
select r.belegnr, r.konto, r.auftragsnr, r.belegdatum,
       cast(date_trunc('month', r.belegdatum) as date) as invoice_month, r.faellig, r.brutto,
       coalesce(p.paid, 0) as paid, r.brutto - coalesce(p.paid, 0) as open_amount, p.last_payment
from {{ ref('stg_accounting__rechnungen') }} r
left join paid p on p.belegnr = r.belegnr"""),
    "int_purchase_orders": ("PO", "view", """select p.po_no, p.supplier_no, s.supplier_name, p.order_date,
       cast(date_trunc('month', p.order_date) as date) as order_month, p.item_no,
       coalesce(i.product_group, 'unknown') as product_group, p.quantity, p.net_amount
from {{ ref('stg_erp__purchase_orders') }} p
left join {{ ref('stg_erp__suppliers') }} s on s.supplier_no = p.supplier_no
left join {{ ref('stg_erp__items') }} i on i.item_no = p.item_no"""),
}

LINE_PREDICATES = [
    "region = 'East'", "region = 'North'", "region = 'South'", "region in ('West', 'South')",
    "status = 'invoiced'", "status <> 'cancelled'", "order_date >= date '2025-05-01'",
    "order_date < date '2026-05-01'", "net_amount > 50", "net_amount > 250", "quantity >= 2",
    "product_group in ('PG-A', 'PG-B', 'PG-C')", "product_group in ('PG-D', 'PG-E')",
    "margin > 0", "extract(month from order_date) in (11, 12, 1)", "line_no <= 3",
]
INV_PREDICATES = ["open_amount > 0", "belegdatum >= date '2025-06-01'", "brutto > 500",
                  "paid >= brutto", "faellig < date '2026-06-30'"]
PO_PREDICATES = ["net_amount > 1000", "order_date >= date '2025-06-01'",
                 "product_group in ('PG-A', 'PG-B', 'PG-C', 'PG-D')", "quantity >= 10"]


def _window_over(part: str, order: str, frame: str = "") -> str:
    return f"over (partition by {part} order by {order}{' ' + frame if frame else ''})"


RUNNING = "rows between unbounded preceding and current row"


def _templates():
    """(name, input types, output type, row-preserving?, sql builder(refs, rng))."""
    r = lambda name: "{{ ref('" + name + "') }}"  # noqa: E731
    T = []

    T.append(("lines_filter", ["LINES"], "LINES", True,
              lambda a, g: f"select * from {r(a[0])}\nwhere {g.choice(LINE_PREDICATES)}"))
    T.append(("lines_latest_orders", ["LINES"], "LINES", True,
              lambda a, g: f"select * from {r(a[0])}\nqualify dense_rank() "
                           f"{_window_over('customer_no', 'order_date desc, order_no desc')} <= {g.choice([1, 2, 3, 5])}"))
    T.append(("lines_union", ["LINES", "LINES"], "LINES", False,
              lambda a, g: f"select * from {r(a[0])}\nunion all\nselect * from {r(a[1])}"))
    T.append(("lines_good_customers", ["LINES", "CUST"], "LINES", True,
              lambda a, g: f"select l.* from {r(a[0])} l\nwhere l.customer_no in "
                           f"(select customer_no from {r(a[1])} where orders >= {g.choice([2, 3, 5, 8])})"))
    T.append(("by_customer", ["LINES"], "CUST", False, lambda a, g: f"""select customer_no, count(distinct order_no) as orders, count(*) as lines,
       sum(net_amount) as revenue, sum(margin) as margin, min(order_date) as first_order,
       max(order_date) as last_order, round(sum(net_amount) / count(*), 4) as avg_line_amount
from {r(a[0])}
group by customer_no"""))
    T.append(("by_group_month", ["LINES"], "GM", False, lambda a, g: f"""select product_group, order_month, count(*) as lines, sum(quantity) as quantity,
       sum(net_amount) as revenue, sum(margin) as margin
from {r(a[0])}
group by product_group, order_month"""))
    T.append(("by_item", ["LINES"], "ITEM", False, lambda a, g: f"""select item_no, product_group, count(distinct order_no) as orders, sum(quantity) as quantity,
       sum(net_amount) as revenue, sum(margin) as margin
from {r(a[0])}
group by item_no, product_group"""))
    T.append(("by_region_month", ["LINES"], "RM", False, lambda a, g: f"""select region, order_month, count(distinct order_no) as orders,
       count(distinct customer_no) as customers, sum(net_amount) as revenue
from {r(a[0])}
group by region, order_month"""))
    T.append(("order_totals", ["LINES"], "T", False, lambda a, g: f"""select order_no, customer_no, order_date, count(*) as lines, sum(net_amount) as net_amount,
       sum(margin) as margin,
       row_number() over (partition by customer_no order by order_date, order_no) as order_seq,
       sum(sum(net_amount)) over (partition by customer_no order by order_date, order_no
                                  rows between unbounded preceding and current row) as customer_cumulative
from {r(a[0])}
group by order_no, customer_no, order_date"""))

    T.append(("cust_filter", ["CUST"], "CUST", True,
              lambda a, g: f"select * from {r(a[0])}\nwhere {g.choice(['orders >= 3', 'revenue > 5000', 'margin > 0', 'last_order >= date ' + repr('2026-01-01')])}"))
    T.append(("cust_profile", ["CUST"], "T", False, lambda a, g: f"""select c.customer_no, m.customer_name, m.city, m.region, m.credit_limit, c.orders, c.revenue, c.margin,
       rank() over (order by c.revenue desc) as revenue_rank,
       round(c.revenue / nullif(sum(c.revenue) over (), 0), 6) as revenue_share,
       c.revenue > m.credit_limit as above_credit_limit,
       date_diff('day', c.first_order, c.last_order) as active_days
from {r(a[0])} c
join {r('stg_erp__customers')} m on m.customer_no = c.customer_no"""))
    T.append(("cust_segments", ["CUST"], "T", False, lambda a, g: f"""select case when revenue >= {g.choice([20000, 50000])} then 'A' when revenue >= {g.choice([5000, 10000])} then 'B' else 'C' end as segment,
       count(*) as customers, sum(revenue) as revenue, sum(margin) as margin, sum(orders) as orders
from {r(a[0])}
group by 1"""))
    T.append(("cust_compare", ["CUST", "CUST"], "T", False, lambda a, g: f"""select coalesce(a.customer_no, b.customer_no) as customer_no, a.revenue as revenue_a, b.revenue as revenue_b,
       coalesce(a.revenue, 0) - coalesce(b.revenue, 0) as revenue_diff, a.orders as orders_a, b.orders as orders_b
from {r(a[0])} a
full outer join {r(a[1])} b on a.customer_no = b.customer_no"""))

    T.append(("gm_trend", ["GM"], "T", False, lambda a, g: f"""select product_group, order_month, revenue,
       sum(revenue) {_window_over('product_group', 'order_month', RUNNING)} as running_revenue,
       lag(revenue) {_window_over('product_group', 'order_month')} as prev_revenue,
       round((revenue - lag(revenue) {_window_over('product_group', 'order_month')})
             / nullif(lag(revenue) {_window_over('product_group', 'order_month')}, 0), 6) as mom_growth,
       round(avg(revenue) {_window_over('product_group', 'order_month', 'rows between 2 preceding and current row')}, 4) as revenue_3m,
       rank() over (partition by order_month order by revenue desc) as rank_in_month
from {r(a[0])}"""))
    T.append(("gm_year", ["GM"], "T", False, lambda a, g: f"""select product_group, extract(year from order_month) as order_year, sum(lines) as lines,
       sum(quantity) as quantity, sum(revenue) as revenue, sum(margin) as margin,
       round(sum(margin) / nullif(sum(revenue), 0), 6) as margin_pct
from {r(a[0])}
group by 1, 2"""))
    T.append(("gm_merge", ["GM", "GM"], "GM", False, lambda a, g: f"""select product_group, order_month, sum(lines) as lines, sum(quantity) as quantity,
       sum(revenue) as revenue, sum(margin) as margin
from (select * from {r(a[0])} union all select * from {r(a[1])}) u
group by product_group, order_month"""))
    T.append(("gm_vs_purchasing", ["GM", "PG"], "T", False, lambda a, g: f"""select s.product_group, sum(s.revenue) as revenue, sum(s.margin) as margin, max(p.spend) as purchase_spend,
       round(sum(s.revenue) / nullif(max(p.spend), 0), 6) as revenue_per_spend
from {r(a[0])} s
left join {r(a[1])} p on p.product_group = s.product_group
group by s.product_group"""))

    T.append(("item_filter", ["ITEM"], "ITEM", True,
              lambda a, g: f"select * from {r(a[0])}\nwhere {g.choice(['revenue > 1000', 'margin > 0', 'orders >= 5', 'quantity > 20'])}"))
    T.append(("item_ranking", ["ITEM"], "T", False, lambda a, g: f"""select s.item_no, i.description, s.product_group, i.list_price, s.revenue, s.margin,
       rank() over (partition by s.product_group order by s.revenue desc) as rank_in_group,
       round(s.revenue / nullif(sum(s.revenue) over (partition by s.product_group), 0), 6) as share_in_group
from {r(a[0])} s
join {r('stg_erp__items')} i on i.item_no = s.item_no"""))
    T.append(("item_abc", ["ITEM"], "T", False, lambda a, g: f"""with cumulated as (
    select item_no, revenue,
           sum(revenue) over (order by revenue desc, item_no rows between unbounded preceding and current row)
             / nullif(sum(revenue) over (), 0) as cumulative_share
    from {r(a[0])}
)
select item_no, revenue, round(cumulative_share, 6) as cumulative_share,
       case when cumulative_share <= 0.8 then 'A' when cumulative_share <= 0.95 then 'B' else 'C' end as abc_class
from cumulated"""))
    T.append(("item_vs_purchasing", ["ITEM", "PG"], "T", False, lambda a, g: f"""select p.product_group, p.spend, s.revenue, s.margin, s.items
from {r(a[1])} p
left join (select product_group, sum(revenue) as revenue, sum(margin) as margin, count(*) as items
           from {r(a[0])} group by product_group) s on s.product_group = p.product_group"""))

    T.append(("region_trend", ["RM"], "T", False, lambda a, g: f"""select region, order_month, revenue, orders,
       sum(revenue) {_window_over('region', 'order_month', RUNNING)} as running_revenue,
       round(revenue / nullif(sum(revenue) over (partition by order_month), 0), 6) as share_of_month
from {r(a[0])}"""))
    T.append(("region_pivot", ["RM"], "T", False, lambda a, g: f"""select order_month,
       sum(revenue) filter (where region = 'East') as east,
       sum(revenue) filter (where region = 'West') as west,
       sum(revenue) filter (where region = 'North') as north,
       sum(revenue) filter (where region = 'South') as south,
       sum(orders) as orders
from {r(a[0])}
group by order_month"""))

    T.append(("inv_filter", ["INV"], "INV", True,
              lambda a, g: f"select * from {r(a[0])}\nwhere {g.choice(INV_PREDICATES)}"))
    T.append(("inv_by_account", ["INV"], "INVK", False, lambda a, g: f"""select konto, count(*) as invoices, sum(brutto) as billed, sum(paid) as paid,
       sum(open_amount) as open_amount,
       count(*) filter (where open_amount > 0 and faellig < date '{STICHTAG}') as overdue_invoices
from {r(a[0])}
group by konto"""))
    T.append(("inv_aging", ["INV"], "T", False, lambda a, g: f"""select invoice_month,
       case when open_amount <= 0 then 'paid'
            when faellig >= date '{STICHTAG}' then 'not due'
            when date_diff('day', faellig, date '{STICHTAG}') <= 30 then '1-30'
            when date_diff('day', faellig, date '{STICHTAG}') <= 90 then '31-90'
            else '90+' end as bucket,
       count(*) as invoices, sum(open_amount) as open_amount, sum(brutto) as billed
from {r(a[0])}
group by 1, 2"""))
    T.append(("inv_vs_orders", ["INV", "LINES"], "T", False, lambda a, g: f"""select i.belegnr, i.auftragsnr, i.brutto, o.net_amount as order_net,
       round(i.brutto / nullif(o.net_amount, 0), 4) as gross_factor, o.lines
from {r(a[0])} i
join (select order_no, sum(net_amount) as net_amount, count(*) as lines
      from {r(a[1])} group by order_no) o on o.order_no = i.auftragsnr"""))
    T.append(("account_exposure", ["INVK"], "T", False, lambda a, g: f"""select k.konto, d.name, d.city, d.credit_limit, k.invoices, k.billed, k.open_amount, k.overdue_invoices,
       round(k.open_amount / nullif(d.credit_limit, 0), 6) as limit_used
from {r(a[0])} k
left join {r('stg_accounting__debitoren')} d on d.konto = k.konto"""))
    T.append(("invk_filter", ["INVK"], "INVK", True,
              lambda a, g: f"select * from {r(a[0])}\nwhere {g.choice(['open_amount > 0', 'overdue_invoices > 0', 'invoices >= 5'])}"))

    T.append(("po_filter", ["PO"], "PO", True,
              lambda a, g: f"select * from {r(a[0])}\nwhere {g.choice(PO_PREDICATES)}"))
    T.append(("po_by_supplier_month", ["PO"], "SM", False, lambda a, g: f"""select supplier_no, order_month, count(*) as pos, sum(quantity) as quantity, sum(net_amount) as spend
from {r(a[0])}
group by supplier_no, order_month"""))
    T.append(("po_by_group", ["PO"], "PG", False, lambda a, g: f"""select product_group, count(*) as pos, sum(quantity) as quantity, sum(net_amount) as spend
from {r(a[0])}
group by product_group"""))
    T.append(("supplier_trend", ["SM"], "T", False, lambda a, g: f"""select supplier_no, order_month, spend,
       sum(spend) {_window_over('supplier_no', 'order_month', RUNNING)} as running_spend,
       dense_rank() over (partition by order_month order by spend desc) as rank_in_month
from {r(a[0])}"""))
    T.append(("supplier_profile", ["SM"], "T", False, lambda a, g: f"""select s.supplier_no, x.supplier_name, x.country_code, count(*) as months, sum(s.spend) as spend,
       sum(s.pos) as pos, max(s.order_month) as last_month
from {r(a[0])} s
left join {r('stg_erp__suppliers')} x on x.supplier_no = s.supplier_no
group by s.supplier_no, x.supplier_name, x.country_code"""))
    return T


UNIQUE_KEYS = {"LINES": ["order_no", "line_no"], "CUST": "customer_no", "ITEM": "item_no", "INVK": "konto"}
INCREMENTAL_FILTER = {"LINES": "order_date", "INV": "belegdatum"}


def generate_project(n_models: int, seed: int = 7) -> list[dict]:
    """The models, in dependency order: name, folder, materialized, sql (Jinja), refs, template."""
    rng = random.Random(seed)
    models: list[dict] = []

    def config(materialized: str, unique_key=None) -> str:
        args = [f"materialized='{materialized}'"]
        if unique_key is not None:
            args.append(f"unique_key={unique_key!r}")
        return "{{ config(" + ", ".join(args) + ") }}\n"

    for key, sql in STAGING.items():
        models.append({"name": f"stg_{key}", "folder": "staging", "materialized": "view", "type": "STG",
                       "template": "staging", "sql": config("view") + sql + "\n"})
    pools: dict[str, list[str]] = {}
    for name, (typ, mat, sql) in BASE.items():
        models.append({"name": name, "folder": "intermediate", "materialized": mat, "type": typ,
                       "template": "base", "sql": config(mat) + sql + "\n"})
        pools.setdefault(typ, []).append(name)
    if n_models < len(models) + 1:
        raise SystemExit(f"--models must be at least {len(models) + 1}")

    templates = _templates()
    remaining = n_models - len(models)
    n_intermediate = int(remaining * 0.45)
    incrementals, want_incrementals = 0, max(1, n_models // 33)
    kinds = {m["name"]: m["materialized"] for m in models}
    for i in range(remaining):
        folder = "intermediate" if i < n_intermediate else "marts"
        # Types that feed others are favoured early, so later models have something to build on.
        usable = [t for t in templates if all(pools.get(typ) for typ in t[1])]
        weights = [(3.0 if t[2] != "T" else 1.0) if i < remaining * 0.6 else (1.0 if t[2] != "T" else 2.0)
                   for t in usable]
        tname, in_types, out_type, row_preserving, build = rng.choices(usable, weights)[0]
        refs = []
        for typ in in_types:
            pool = [p for p in pools[typ] if p not in refs] or pools[typ]
            # Chains: mostly the newest model of the type; fans: any earlier one.
            refs.append(pool[-1] if rng.random() < 0.5 else rng.choice(pool))
        prefix = "int" if folder == "intermediate" else "mart"
        name = f"{prefix}_{len(models):03d}_{tname}"
        body = build(refs, rng)
        unique_key = None
        if folder == "marts" and incrementals < want_incrementals and out_type in UNIQUE_KEYS and rng.random() < 0.5:
            materialized = "incremental"
            unique_key = UNIQUE_KEYS[out_type]
            incrementals += 1
            column = INCREMENTAL_FILTER.get(out_type)
            if column and body.startswith("select * from") and "\nunion" not in body and "\nqualify" not in body:
                # The usual incremental filter; on a fresh warehouse both tools build the full table.
                cond = f"{column} >= (select max({column}) from {{{{ this }}}})"
                joiner = "\n  and " if "\nwhere " in body else "\nwhere "
                body = body + "\n{% if is_incremental() %}" + joiner + cond + "\n{% endif %}"
        elif not row_preserving or any(kinds[r] != "view" for r in refs) and rng.random() < 0.3:
            materialized = "table" if (folder == "marts" or rng.random() < 0.6) else "view"
        else:
            materialized = "view" if (folder == "intermediate" or rng.random() < 0.3) else "table"
        if tname == "lines_union":     # a union of views of unions grows exponentially when inlined
            materialized = "table"
        kinds[name] = materialized
        models.append({"name": name, "folder": folder, "materialized": materialized, "type": out_type,
                       "template": tname, "refs": refs, "sql": config(materialized, unique_key) + body + "\n"})
        if out_type != "T":
            pools.setdefault(out_type, []).append(name)
    return models


DBT_SOURCES = {
    "crm": ["accounts", "contacts"],
    "erp": ["customers", "suppliers", "items", "orders", "order_lines", "purchase_orders"],
    "accounting": ["debitoren", "kreditoren", "rechnungen", "zahlungen", "offene_posten"],
}

GENERATE_SCHEMA_NAME = """{% macro generate_schema_name(custom_schema_name, node) -%}
    {#- As in Kontor: the schema is the first folder under models/. -#}
    {%- if custom_schema_name is not none -%}{{ custom_schema_name | trim }}
    {%- elif node.fqn | length > 2 -%}{{ node.fqn[1] }}
    {%- else -%}{{ target.schema }}{%- endif -%}
{%- endmacro %}
"""


def write_models(models_dir: Path, models: list[dict]) -> None:
    for folder in FOLDERS:
        shutil.rmtree(models_dir / folder, ignore_errors=True)
    for m in models:
        path = models_dir / m["folder"] / f"{m['name']}.sql"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(m["sql"], encoding="utf-8")


def write_kontor_project(project: Path, data_dir: Path, models: list[dict], per_model: bool = False) -> None:
    (project / "models").mkdir(parents=True, exist_ok=True)
    (project / "pyproject.toml").write_text(
        f'[tool.kontor]\nname = "models_vs_dbt"\ndata_dir = "{data_dir}"\ntarget_dir = "target"\n'
        + ("models_in_one_step = false\n" if per_model else ""), encoding="utf-8")
    shutil.copy(ROOT / "models" / "sources.yml", project / "models" / "sources.yml")
    write_models(project / "models", models)


def write_dbt_project(project: Path, warehouse: Path, models: list[dict], threads: int) -> None:
    (project / "models").mkdir(parents=True, exist_ok=True)
    (project / "macros").mkdir(parents=True, exist_ok=True)
    (project / "dbt_project.yml").write_text(f"""name: {DBT_PROJECT_NAME}
version: "1.0"
config-version: 2
profile: {DBT_PROJECT_NAME}
model-paths: ["models"]
macro-paths: ["macros"]
target-path: target
clean-targets: [target]
flags:
  send_anonymous_usage_stats: false
  use_colors: false
  partial_parse: true
""", encoding="utf-8")
    (project / "profiles.yml").write_text(f"""{DBT_PROJECT_NAME}:
  target: bench
  outputs:
    bench:
      type: duckdb
      path: "{warehouse}"
      schema: main
      threads: {threads}
""", encoding="utf-8")
    lines = ["version: 2", "sources:"]
    for system, tables in DBT_SOURCES.items():
        lines += [f"  - name: {system}", "    schema: raw", "    tables:"]
        lines += [f"      - {{name: {t}, identifier: {system}__{t}}}" for t in tables]
    (project / "models" / "sources.yml").write_text("\n".join(lines) + "\n", encoding="utf-8")
    (project / "macros" / "generate_schema_name.sql").write_text(GENERATE_SCHEMA_NAME, encoding="utf-8")
    write_models(project / "models", models)


# --------------------------------------------------------------------------------------------
# dbt's own environment
# --------------------------------------------------------------------------------------------

def _pip_install(venv: Path, *specs: str) -> subprocess.CompletedProcess:
    return subprocess.run([str(venv / "bin" / "python"), "-m", "pip", "install", "--quiet", *specs],
                          capture_output=True, text=True)


def ensure_dbt_venv(workdir: Path) -> tuple[Path, dict, str]:
    venv = workdir / "dbt-venv"
    dbt = venv / "bin" / "dbt"
    note = "existing venv"
    if not dbt.exists():
        log(f"creating {venv} and installing dbt-duckdb")
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
        done = _pip_install(venv, "dbt-duckdb")
        note = "pip install dbt-duckdb"
        if done.returncode != 0:
            # dbt-core 1.12 needs dbt-core-experimental-parser, an sdist that fetches its wheel from
            # GitHub while building: not possible without that network. 1.11 does not need it.
            lines = [ln.strip() for ln in done.stderr.splitlines() if not ln.startswith("WARNING: Location")]
            reason = next((ln for ln in lines if "RuntimeError" in ln), None) or \
                next((ln for ln in lines if "error" in ln.lower()), lines[-1] if lines else "unknown")
            log(f"pip install dbt-duckdb failed ({reason[:200]}); retrying with dbt-core<1.12")
            done = _pip_install(venv, "dbt-duckdb", "dbt-core<1.12")
            note = f"pip install dbt-duckdb 'dbt-core<1.12' (latest failed: {reason[:200]})"
            if done.returncode != 0:
                raise SystemExit(f"cannot install dbt-duckdb into {venv}:\n{done.stderr[-2000:]}")
    probe = subprocess.run([str(venv / "bin" / "python"), "-c",
                            "import json, importlib.metadata as m; print(json.dumps({p: m.version(p) for p in "
                            "('dbt-core', 'dbt-duckdb', 'dbt-adapters', 'duckdb')}))"],
                           capture_output=True, text=True, check=True)
    return dbt, json.loads(probe.stdout), note


# --------------------------------------------------------------------------------------------
# Children (run in fresh processes of Kontor's venv)
# --------------------------------------------------------------------------------------------

def child_compile(args) -> dict:
    t0 = time.perf_counter()
    from pipelines.models.compile import compile_project
    from pipelines.models.project import load_models
    from pipelines.core.settings import load_settings
    t1 = time.perf_counter()
    settings = load_settings(args.project, env={})
    t2 = time.perf_counter()
    project = load_models(settings)
    t3 = time.perf_counter()
    compiled = compile_project(project, display=settings.relative)
    t4 = time.perf_counter()
    if compiled.problems:
        raise SystemExit("compile problems:\n" + "\n".join(map(str, compiled.problems[:20])))
    compiled.output_columns(compiled.order[0])      # column inference for every model (lazy)
    t5 = time.perf_counter()
    return {"import_s": t1 - t0, "load_models_s": t3 - t2, "compile_project_s": t4 - t3,
            "compile_s": t4 - t2, "output_columns_s": t5 - t4, "models": len(compiled.models)}


class _TimedCon:
    """A DuckDB connection that times every statement by kind."""

    def __init__(self, con, stats: dict):
        self._con, self._stats = con, stats

    @staticmethod
    def kind(sql: str) -> str:
        s = " ".join(sql.split()).lower()
        for prefix, label in (("select count(*)", "sql_row_count"), ("create or replace view", "sql_create_view"),
                              ("create table", "sql_create_table"), ("create or replace temp table", "sql_incremental_stage"),
                              ("create schema", "sql_create_schema"), ("select 'table' from duckdb_tables()", "sql_relation_lookup"),
                              ("begin", "sql_transaction"), ("commit", "sql_transaction"), ("drop", "sql_drop"),
                              ("alter table", "sql_rename"), ("attach", "serving_attach"), ("copy from database", "serving_copy_database"),
                              ("detach", "serving_detach"), ("set ", "sql_settings"), ("insert", "sql_insert"), ("delete", "sql_delete")):
            if s.startswith(prefix):
                return label
        return "sql_other"

    def execute(self, sql, *params):
        t = time.perf_counter()
        try:
            return self._con.execute(sql, *params)
        finally:
            label = self.kind(sql)
            self._stats[label] = self._stats.get(label, 0.0) + time.perf_counter() - t
            self._stats[label + "__n"] = self._stats.get(label + "__n", 0) + 1

    def close(self):
        t = time.perf_counter()
        self._con.close()
        self._stats["duckdb_close"] = self._stats.get("duckdb_close", 0.0) + time.perf_counter() - t
        self._stats["duckdb_close__n"] = self._stats.get("duckdb_close__n", 0) + 1

    def __getattr__(self, name):
        return getattr(self._con, name)


def _step_timings(instance, run_id: str) -> dict:
    """From a run's event log: launch, per-step durations, gaps between steps, serving step."""
    from dagster import DagsterEventType

    events = [e for e in instance.all_logs(run_id) if e.dagster_event is not None]
    t_first = events[0].timestamp if events else 0.0
    starts, ends, run_start, run_end = {}, {}, None, None
    for e in events:
        et = e.dagster_event.event_type
        if et == DagsterEventType.RUN_START:
            run_start = e.timestamp
        elif et in (DagsterEventType.RUN_SUCCESS, DagsterEventType.RUN_FAILURE):
            run_end = e.timestamp
        elif et == DagsterEventType.STEP_START:
            starts[e.step_key] = e.timestamp
        elif et in (DagsterEventType.STEP_SUCCESS, DagsterEventType.STEP_FAILURE):
            ends[e.step_key] = e.timestamp
    steps = {k: ends[k] - starts[k] for k in starts if k in ends}
    serving = sum(v for k, v in steps.items() if "serving" in k)
    ordered = sorted((starts[k], ends[k]) for k in steps)
    gaps = sum(max(0.0, b[0] - a[1]) for a, b in zip(ordered, ordered[1:]))
    model_steps = [v for k, v in steps.items() if "serving" not in k]
    return {
        "run_span_s": (run_end - run_start) if run_start and run_end else None,
        "first_event_to_first_step_s": (ordered[0][0] - t_first) if ordered else None,
        "last_step_to_run_end_s": (run_end - ordered[-1][1]) if ordered and run_end else None,
        "steps": len(steps),
        "model_steps_sum_s": sum(model_steps),
        "model_step_median_s": statistics.median(model_steps) if model_steps else None,
        "gaps_between_steps_s": gaps,
        "serving_step_s": serving,
    }


def child_profile(args) -> dict:
    """One in-process Kontor run with every phase timed, then the bare engine as the floor."""
    out: dict = {}
    t0 = time.perf_counter()
    import dagster  # noqa: F401
    t1 = time.perf_counter()
    import assets.serving as asset_serving
    import pipelines.definitions as definitions
    import pipelines.core.warehouse as warehouse
    import pipelines.models.stage as model_stage
    from pipelines.run import build_definitions, instance_for, run_pipeline
    from pipelines.core.settings import load_settings
    t2 = time.perf_counter()
    out["import_dagster_s"] = t1 - t0
    out["import_kontor_rest_s"] = t2 - t1
    settings = load_settings(args.project, env={})
    selects = [f"group:{f}" for f in FOLDERS]

    # 1. Definition build, and what is in it.
    stats: dict = {}

    def timed(module, attr, label):
        original = getattr(module, attr)

        def wrapper(*a, **kw):
            t = time.perf_counter()
            try:
                return original(*a, **kw)
            finally:
                stats[label] = stats.get(label, 0.0) + time.perf_counter() - t
                stats[label + "__n"] = stats.get(label + "__n", 0) + 1
        setattr(module, attr, wrapper)
        return original

    timed(definitions, "compile_models", "defs_compile_models")
    timed(definitions, "build_model_assets", "defs_build_model_assets")
    timed(definitions, "build_source_assets", "defs_build_source_assets")
    t = time.perf_counter()
    defs = build_definitions(settings)
    out["build_definitions_s"] = time.perf_counter() - t
    t = time.perf_counter()
    defs.resolve_job_def(definitions.ALL_JOB)
    defs.resolve_asset_graph()
    out["resolve_job_and_graph_s"] = time.perf_counter() - t
    out["definition_build"] = {k: v for k, v in stats.items()}
    stats.clear()

    # 2. The same run as `kontor run --select ...`, in-process, with its parts timed.
    fresh_copy(Path(args.snapshot), settings.warehouse_path)
    real_connect = warehouse.connect

    def connect(path, read_only=False, **limits):
        t = time.perf_counter()
        con = real_connect(path, read_only, **limits)
        stats["duckdb_connect"] = stats.get("duckdb_connect", 0.0) + time.perf_counter() - t
        stats["duckdb_connect__n"] = stats.get("duckdb_connect__n", 0) + 1
        return _TimedCon(con, stats)
    warehouse.connect = connect
    timed(model_stage, "build", "materialize_total")      # the layer and a step per model look it up at each call
    timed(model_stage, "lineage", "column_lineage")
    timed(asset_serving, "publish_serving", "serving_publish")
    timed(definitions, "compile_models", "defs_compile_models")
    timed(definitions, "build_model_assets", "defs_build_model_assets")
    collector = {"gc_s": 0.0, "gc_collections": 0, "gc_full_collections": 0, "_t": 0.0}

    def on_gc(phase, info):
        if phase == "start":
            collector["_t"] = time.perf_counter()
        else:
            collector["gc_s"] += time.perf_counter() - collector["_t"]
            collector["gc_collections"] += 1
            collector["gc_full_collections"] += info["generation"] == 2
    gc.callbacks.append(on_gc)
    t = time.perf_counter()
    outcome, profile = _profiled(run_pipeline, settings, selects)     # under cProfile: slower, but where it goes
    wall = time.perf_counter() - t
    gc.callbacks.remove(on_gc)
    stats.update(storage_times(profile))
    out["hotspots"] = hotspots(profile)
    del collector["_t"]
    if not outcome.success:
        raise SystemExit(f"profile run failed: {(outcome.failures + outcome.gate_failures)[:5]}")
    instance = instance_for(settings)
    try:
        steps = _step_timings(instance, outcome.run_id)
    finally:
        instance.dispose()
    run = {"run_pipeline_wall_s": wall, "assets_materialized": len(outcome.materialized), **steps, **collector,
           **{k: v for k, v in stats.items()}}
    in_steps = sum(stats.get(k, 0.0) for k in ("duckdb_connect", "duckdb_close", "materialize_total", "column_lineage", "serving_publish"))
    for key in ("dagster_store_event", "dagster_get_asset_records"):   # storage is touched from run_pipeline only
        run[key] = stats.pop(key, 0.0)
        run[key + "__n"] = stats.pop(key + "__n", 0)
    run["kontor_code_in_steps_s"] = in_steps
    run["dagster_in_step_overhead_s"] = steps["model_steps_sum_s"] + steps["serving_step_s"] - in_steps
    run["outside_steps_s"] = wall - steps["model_steps_sum_s"] - steps["serving_step_s"] - steps["gaps_between_steps_s"]
    out["run_pipeline"] = run
    warehouse.connect = real_connect

    # 3. The bare engine: the stage's build() in dependency order on one connection, no Dagster.
    from pipelines.definitions import compile_models
    compiled = compile_models(settings)
    fresh_copy(Path(args.snapshot), settings.warehouse_path)
    stats.clear()
    con = _TimedCon(real_connect(settings.warehouse_path), stats)
    t = time.perf_counter()
    for name in compiled.order:
        model_stage.build(con, compiled, name)
    engine = time.perf_counter() - t
    t = time.perf_counter()
    con.execute("checkpoint")
    checkpoint = time.perf_counter() - t
    t = time.perf_counter()
    warehouse.publish_serving(con, settings.target_dir / "serving_profile.duckdb")
    serving = time.perf_counter() - t
    con.close()
    (settings.target_dir / "serving_profile.duckdb").unlink(missing_ok=True)
    out["bare_engine"] = {"materialize_all_s": engine, "checkpoint_s": checkpoint, "publish_serving_s": serving,
                          **{k: v for k, v in stats.items()}}

    # 4. Column lineage for all models, as the steps compute it (uncached: fresh compile).
    compiled = compile_models(settings)
    t = time.perf_counter()
    compiled.output_columns(compiled.order[0])
    out["column_inference_all_s"] = time.perf_counter() - t
    t = time.perf_counter()
    for name in compiled.order:
        model_stage.lineage(compiled, name)
    out["column_lineage_all_s"] = time.perf_counter() - t
    return out


def _profiled(fn, *a, **kw):
    """``fn(*a, **kw)`` under cProfile: (its result, the profile's pstats.Stats)."""
    import cProfile
    import pstats

    prof = cProfile.Profile()
    try:
        result = prof.runcall(fn, *a, **kw)
    finally:
        stats = pstats.Stats(prof)
    return result, stats


# Dagster's storage, found in a cProfile by module path and function name (no private import):
# every event write, every read of asset records (data versions). A call from one into another
# (the SQLite storage's store_event calls the SQL one's) counts once: the outermost has the most time.
STORAGE_CALLS = {"dagster_store_event": ("/storage/event_log/", "store_event"),
                 "dagster_get_asset_records": ("/storage/event_log/", "get_asset_records")}


def storage_times(stats) -> dict:
    out = {}
    for label, (path, func) in STORAGE_CALLS.items():
        found = [(ct, nc) for (file, _, name), (_, nc, _, ct, _) in stats.stats.items()
                 if name == func and path in file.replace("\\", "/")]
        ct, nc = max(found, default=(0.0, 0))
        out[label], out[label + "__n"] = ct, nc
    return out


def hotspots(stats, top: int = 25) -> dict:
    """The functions with the most own time and the most cumulative time (file:line(function))."""
    rows = [(f"{Path(file).name}:{line}({name})", tt, ct, nc) for (file, line, name), (_, nc, tt, ct, _) in stats.stats.items()]
    own = sorted(rows, key=lambda r: -r[1])[:top]
    cumulative = sorted(rows, key=lambda r: -r[2])[:top]
    return {"own_time": [{"function": f, "own_s": round(tt, 3), "cumulative_s": round(ct, 3), "calls": nc} for f, tt, ct, nc in own],
            "cumulative_time": [{"function": f, "own_s": round(tt, 3), "cumulative_s": round(ct, 3), "calls": nc}
                                for f, tt, ct, nc in cumulative]}


WHATIF = {
    "as_is": "kontor run's code path in-process (run_pipeline), unchanged",
    "ephemeral_instance": "Dagster instance in memory (no run history: the floor of Dagster's own cost)",
    "no_run_time_lineage": "no column lineage metadata on the materialisations",
    "per_model": "one Dagster step per model (models_in_one_step = false), the layer before the one-step default",
}


def child_whatif(args) -> dict:
    """One in-process run with one suspected cost removed by monkeypatching (repository files untouched)."""
    variant = args.variant
    import dagster as dg

    import pipelines.models.stage as model_stage
    import pipelines.run as prun
    from pipelines.core.settings import load_settings

    settings = load_settings(args.project, env={"KONTOR_MODELS_IN_ONE_STEP": "0"} if variant == "per_model" else {})
    fresh_copy(Path(args.snapshot), settings.warehouse_path)
    if variant == "ephemeral_instance":
        prun.instance_for = lambda s: dg.DagsterInstance.ephemeral()
    if variant == "no_run_time_lineage":
        model_stage.lineage = lambda compiled, name, save=True: None
    selects = [f"group:{f}" for f in FOLDERS]
    t = time.perf_counter()
    outcome = prun.run_pipeline(settings, selects)
    if not outcome.success:
        raise SystemExit(f"{variant}: {outcome.failures[:3]}")
    wall = time.perf_counter() - t
    return {"variant": variant, "run_s": wall, "assets_materialized": len(outcome.materialized)}


def _run_child(kind: str, args: argparse.Namespace, extra: list[str]) -> dict:
    cmd = [str(KONTOR_PY), str(Path(__file__).resolve()), "--child", kind, "--project", str(args.project_dir), *extra]
    done = subprocess.run(cmd, capture_output=True, text=True, env=_kontor_env(args.project_dir))
    if done.returncode != 0:
        raise SystemExit(f"{kind} child failed:\n{done.stderr[-4000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


# --------------------------------------------------------------------------------------------
# Measurements
# --------------------------------------------------------------------------------------------

def _kontor_env(project: Path) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("KONTOR_", "DAGSTER_"))}
    env["KONTOR_PROJECT_DIR"] = str(project)
    # With PYTHONDONTWRITEBYTECODE set (as in some sandboxes and CI images), Kontor's ~90 modules
    # of a source checkout were compiled from source in every timed `kontor run` (0.3-0.5 s of CPU),
    # while dbt's and Dagster's were read as bytecode that pip compiled at install. The child
    # writes its bytecode in the (untimed) warm-up run, as a checkout does on its first run.
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    return env


def _dbt_env() -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DBT_", "VIRTUAL_ENV"))}
    env.update({"DBT_SEND_ANONYMOUS_USAGE_STATS": "false", "DO_NOT_TRACK": "1", "DBT_USE_COLORS": "false"})
    return env


def fresh_copy(snapshot: Path, target: Path) -> None:
    for suffix in ("", ".wal"):
        Path(str(target) + suffix).unlink(missing_ok=True)
    shutil.copy(snapshot, target)
    os.sync()   # the copies' dirty pages must not be written back inside the next timed run's fsyncs


def fresh_dagster_home(args) -> None:
    """The Dagster instance as it was right after the raw load, so every repeat starts alike."""
    home = args.project_dir / "target" / "dagster"
    shutil.rmtree(home, ignore_errors=True)
    shutil.copytree(args.dagster_snapshot, home)
    os.sync()


# How `kontor run` keeps its run history: each variant is the same CLI run with one setting changed.
HISTORY_VARIANTS = {
    "instance": "[tool.kontor] history = \"instance\" (the default): the run recorded in the Dagster instance of "
                "target/dagster, Dagster's SQLite storage as the dagster.yaml kontor writes configures it",
    "none": "history = \"none\" (KONTOR_HISTORY=none; kontor run --no-history): an in-memory (ephemeral) Dagster "
            "instance, nothing recorded for the UI",
    "postgres": "history = \"instance\" on Dagster's Postgres storage (dagster-postgres; a dagster.yaml with "
                "storage: postgres: in DAGSTER_HOME), a database restored from a template holding the raw load "
                "before every run",
    "postgres_nosync": "the postgres variant with the database's synchronous_commit = off (a PostgreSQL setting: "
                       "commits do not wait for the WAL flush; a crash may lose the last moments of history, "
                       "never corrupt it); not run unless listed",
    "consolidated": "history = \"instance\" with Dagster's ConsolidatedSqliteEventLogStorage (a dagster.yaml with "
                    "event_log_storage: that public class: one SQLite file for every run's events instead of one per "
                    "run plus an index file; run and schedule storage as by default); not run unless listed",
}
DEFAULT_VARIANTS = ("instance", "none", "postgres")


def _postgres_admin(args):
    import psycopg2

    con = psycopg2.connect(args.postgres_url.rstrip("/") + "/postgres")
    con.autocommit = True
    return con


def postgres_database(args, name: str, template: str | None = None, nosync: bool = False) -> None:
    """(Re)create database ``name`` on ``--postgres-url``, empty or as a copy of ``template``."""
    con = _postgres_admin(args)
    try:
        with con.cursor() as cur:
            cur.execute(f'drop database if exists "{name}" with (force)')
            cur.execute(f'create database "{name}"' + (f' template "{template}"' if template else ""))
            if nosync:
                cur.execute(f'alter database "{name}" set synchronous_commit = off')
    finally:
        con.close()


def _sqlalchemy_url(url: str) -> str:
    """The server URL with the driver dagster-postgres uses named (SQLAlchemy 2.1 otherwise picks psycopg 3)."""
    url = url.rstrip("/")
    return "postgresql+psycopg2://" + url.split("://", 1)[1] if url.startswith(("postgresql://", "postgres://")) else url


def postgres_home(args, home: Path, database: str) -> Path:
    """A Dagster instance directory whose dagster.yaml (not Kontor's: no marker line) stores in Postgres."""
    home.mkdir(parents=True, exist_ok=True)
    (home / "dagster.yaml").write_text(
        "storage:\n  postgres:\n"
        f"    postgres_url: \"{_sqlalchemy_url(args.postgres_url)}/{database}\"\n"
        "telemetry:\n  enabled: false\n"
        "concurrency:\n  runs:\n    max_concurrent_runs: 1\n", encoding="utf-8")
    return home


def consolidated_home(home: Path) -> Path:
    """``home`` as a Dagster instance directory whose dagster.yaml (not Kontor's: no marker line) keeps
    the event log in Dagster's ConsolidatedSqliteEventLogStorage, the rest as by default."""
    (home / "dagster.yaml").write_text(
        "event_log_storage:\n  module: dagster.core.storage.event_log\n  class: ConsolidatedSqliteEventLogStorage\n"
        f"  config:\n    base_dir: \"{home / 'history' / 'events'}\"\n"
        "telemetry:\n  enabled: false\n"
        "concurrency:\n  runs:\n    max_concurrent_runs: 1\n", encoding="utf-8")
    return home


def run_kontor(args, snapshot: Path, warehouse: Path, variant: str = "instance") -> dict:
    fresh_dagster_home(args)
    env = _kontor_env(args.project_dir)
    selects = [a for f in FOLDERS for a in ("--select", f"group:{f}")]
    cmd = [str(KONTOR_CLI), "run", *selects]
    home = args.project_dir / "target" / "dagster"
    if variant == "none":
        env["KONTOR_HISTORY"] = "none"
    elif variant in ("postgres", "postgres_nosync"):
        postgres_database(args, args.pg_run_db, template=args.pg_raw_db, nosync=variant == "postgres_nosync")
        home = args.pg_home
        env["DAGSTER_HOME"] = str(home)
    elif variant == "consolidated":
        # The instance after the raw load, its event log switched: the raw run's events stay in the
        # per-run files, which this storage does not read (the timed run starts from an empty event log).
        consolidated_home(home)
    fresh_copy(snapshot, warehouse)
    t = time.perf_counter()
    done = subprocess.run(cmd, capture_output=True, text=True, cwd=args.project_dir, env=env)
    wall = time.perf_counter() - t
    if done.returncode != 0:
        raise SystemExit(f"kontor run ({variant}) failed:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}")
    found = re.search(r"(\d+) assets materiali[sz]ed", done.stdout + done.stderr)
    materialized = int(found.group(1)) if found else None
    if variant == "none":      # nothing recorded: no step timings
        return {"wall_s": wall, "materialized": materialized, "serving_step_s": None}
    from dagster import DagsterInstance, DagsterRunStatus, RunsFilter
    instance = DagsterInstance.from_config(str(home))
    try:
        last = instance.get_runs(filters=RunsFilter(statuses=[DagsterRunStatus.SUCCESS]), limit=1)[0]
        steps = _step_timings(instance, last.run_id)
    finally:
        instance.dispose()
    return {"wall_s": wall, "materialized": materialized, **steps}


def run_dbt(args, dbt: Path, snapshot: Path, warehouse: Path) -> dict:
    fresh_copy(snapshot, warehouse)
    cmd = [str(dbt), "run", "--project-dir", str(args.dbt_dir), "--profiles-dir", str(args.dbt_dir)]
    t = time.perf_counter()
    done = subprocess.run(cmd, capture_output=True, text=True, cwd=args.dbt_dir, env=_dbt_env())
    wall = time.perf_counter() - t
    if done.returncode != 0:
        raise SystemExit(f"dbt run failed:\n{done.stdout[-4000:]}\n{done.stderr[-2000:]}")
    results = json.loads((args.dbt_dir / "target" / "run_results.json").read_text())
    nodes = results["results"]
    ok = sum(r["status"] == "success" for r in nodes)
    return {"wall_s": wall, "succeeded": ok, "elapsed_s": results.get("elapsed_time"),
            "node_execution_sum_s": sum(r.get("execution_time") or 0 for r in nodes)}


def relation_fingerprints(path: Path, relations: list[tuple[str, str]]) -> dict:
    """(kind, [(column, type)], rows, per-column order-insensitive hash sums) per relation."""
    import duckdb

    con = duckdb.connect(str(path), read_only=True)
    try:
        kinds = {(r[0], r[1]): ("view" if r[2] == "VIEW" else "table") for r in con.execute(
            "select table_schema, table_name, table_type from information_schema.tables").fetchall()}
        out = {}
        for schema, name in relations:
            kind = kinds.get((schema, name))
            if kind is None:
                out[(schema, name)] = None
                continue
            rel = f'"{schema}"."{name}"'
            cols = [(r[0], r[1]) for r in con.execute(f"describe {rel}").fetchall()]
            sums = ", ".join(f'sum(hash("{c}"))::varchar' for c, _ in cols)
            row = con.execute(f"select count(*), {sums} from {rel}").fetchone()
            out[(schema, name)] = (kind, cols, row[0], list(row[1:]))
        return out
    finally:
        con.close()


def compare(kontor_wh: Path, dbt_wh: Path, models: list[dict]) -> dict:
    relations = [(m["folder"], m["name"]) for m in models]
    left, right = relation_fingerprints(kontor_wh, relations), relation_fingerprints(dbt_wh, relations)
    tables = views = 0
    mismatches = []
    for rel in relations:
        a, b = left[rel], right[rel]
        label = ".".join(rel)
        if a is None or b is None:
            mismatches.append({"relation": label, "problem": f"missing in {'kontor' if a is None else 'dbt'}"})
            continue
        if a[0] != b[0]:
            mismatches.append({"relation": label, "problem": f"kontor built a {a[0]}, dbt a {b[0]}"})
            continue
        if a[0] == "table":
            tables += 1
        else:
            views += 1
        if a[1] != b[1]:
            mismatches.append({"relation": label, "problem": "columns differ", "kontor": a[1], "dbt": b[1]})
        elif a[2] != b[2]:
            mismatches.append({"relation": label, "problem": f"rows: kontor {a[2]}, dbt {b[2]}"})
        elif a[3] != b[3]:
            cols = [c for (c, _), x, y in zip(a[1], a[3], b[3]) if x != y]
            mismatches.append({"relation": label, "problem": f"checksum differs in columns {cols}"})
    empty = sum(1 for rel in relations if left[rel] and left[rel][2] == 0)
    return {"checked": tables, "views_checked": views, "empty_relations": empty, "mismatches": mismatches,
            "method": "per relation: kind, column names and types, count(*), sum(hash(column)) per column"}


def summary(values: list[float]) -> dict:
    return {"median_s": round(statistics.median(values), 3), "all_s": [round(v, 3) for v in values]}


def machine() -> dict:
    import duckdb

    cpu = ""
    try:
        cpu = next((ln.split(":", 1)[1].strip() for ln in Path("/proc/cpuinfo").read_text().splitlines()
                    if ln.startswith("model name")), "")
    except OSError:
        pass
    mem = ""
    try:
        mem = next(ln.split(":", 1)[1].strip() for ln in Path("/proc/meminfo").read_text().splitlines()
                   if ln.startswith("MemTotal"))
    except (OSError, StopIteration):
        pass
    return {"cpu_count": os.cpu_count(), "cpu": cpu, "memory": mem, "python": platform.python_version(),
            "platform": platform.platform(),
            "duckdb_threads": duckdb.connect().execute("select current_setting('threads')").fetchone()[0]}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--scale", type=float, default=1.0, help="demo data scale (pipelines.demo.generate)")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--models", type=int, default=200)
    ap.add_argument("--dbt-threads", type=int, default=1,
                    help="dbt's threads (Kontor runs one step at a time; DuckDB parallelises within a query)")
    ap.add_argument("--workdir", type=Path, default=Path(tempfile.gettempdir()) / "kontor-bench-models-vs-dbt")
    ap.add_argument("--profile", action="store_true", help="add a phase-by-phase profile of one Kontor run")
    ap.add_argument("--per-model", action="store_true",
                    help="one Dagster step per Kontor model (models_in_one_step = false) instead of the default one step")
    ap.add_argument("--whatif-repeats", type=int, default=2,
                    help="repeats of each what-if variant of the profile (monkeypatched in-process runs)")
    ap.add_argument("--history-variants", default=",".join(DEFAULT_VARIANTS),
                    help="how kontor run keeps its run history, each measured in every repeat next to dbt: "
                         + ", ".join(HISTORY_VARIANTS) + " (the first is kontor_run; default "
                         + ",".join(DEFAULT_VARIANTS) + ")")
    ap.add_argument("--postgres-url", default=os.environ.get("KONTOR_BENCH_POSTGRES_URL", ""),
                    help="a PostgreSQL server (postgresql://user@host:port, no database) for the postgres variant; "
                         "two databases are (re)created on it; without it that variant is left out")
    ap.add_argument("--child", choices=["compile", "profile", "whatif"], help=argparse.SUPPRESS)
    ap.add_argument("--variant", help=argparse.SUPPRESS)
    ap.add_argument("--project", help=argparse.SUPPRESS)
    ap.add_argument("--snapshot", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)

    if args.child:
        fn = {"compile": child_compile, "profile": child_profile, "whatif": child_whatif}[args.child]
        print(json.dumps(fn(args)))
        return 0

    workdir = args.workdir.resolve()
    if workdir == ROOT or ROOT in workdir.parents:
        ap.error(f"--workdir must be outside the repository ({ROOT})")
    if args.repeats < 1 or args.scale <= 0:
        ap.error("--repeats and --scale must be positive")
    workdir.mkdir(parents=True, exist_ok=True)
    args.project_dir = workdir / "kontor_project"
    args.dbt_dir = workdir / "dbt_project"

    # 1. dbt's environment.
    dbt, dbt_versions, dbt_install = ensure_dbt_venv(workdir)
    log(f"dbt: {dbt_versions}")

    # 2. Demo data and the raw layer, loaded once by Kontor.
    data_dir = workdir / "data"
    manifest = data_dir / "ground_truth" / "manifest.json"
    if not manifest.is_file() or json.loads(manifest.read_text()).get("scale") != args.scale:
        from pipelines.demo import generate
        shutil.rmtree(data_dir, ignore_errors=True)
        log(f"generating demo data at scale {args.scale}")
        generate(data_dir, scale=args.scale)
    models = generate_project(args.models)
    shutil.rmtree(args.project_dir / "target", ignore_errors=True)
    write_kontor_project(args.project_dir, data_dir, models, per_model=args.per_model)
    from pipelines.run import run_pipeline
    from pipelines.core.settings import load_settings
    settings = load_settings(args.project_dir, env={})
    log("loading the raw layer with Kontor (group:raw)")
    t = time.perf_counter()
    outcome = run_pipeline(settings, ["group:raw"])
    if not outcome.success:
        raise SystemExit(f"raw load failed: {outcome.failures}")
    raw_load_s = time.perf_counter() - t
    snapshot = workdir / "raw_snapshot.duckdb"
    shutil.copy(settings.warehouse_path, snapshot)
    args.dagster_snapshot = workdir / "dagster_home_snapshot"
    shutil.rmtree(args.dagster_snapshot, ignore_errors=True)
    shutil.copytree(settings.dagster_home, args.dagster_snapshot)
    variants = [v.strip() for v in args.history_variants.split(",") if v.strip()]
    unknown = [v for v in variants if v not in HISTORY_VARIANTS]
    if unknown or not variants:
        ap.error(f"--history-variants: unknown {unknown}; choose from {', '.join(HISTORY_VARIANTS)}")
    variant_errors: dict[str, str] = {}
    if {"postgres", "postgres_nosync"} & set(variants):
        # Optional: without a server (or dagster-postgres) the variant is reported as left out.
        try:
            if not args.postgres_url:
                raise RuntimeError("no --postgres-url (or KONTOR_BENCH_POSTGRES_URL)")
            args.pg_raw_db, args.pg_run_db = "kontor_bench_raw", "kontor_bench_run"
            postgres_database(args, args.pg_raw_db)
            args.pg_home = postgres_home(args, workdir / "dagster_home_postgres", args.pg_raw_db)
            log("loading the raw layer again, its history in Postgres")
            for suffix in ("", ".wal"):
                Path(str(settings.warehouse_path) + suffix).unlink(missing_ok=True)
            pg_raw = run_pipeline(load_settings(args.project_dir, env={"DAGSTER_HOME": str(args.pg_home)}), ["group:raw"])
            if not pg_raw.success:
                raise RuntimeError(f"raw load into the Postgres instance failed: {pg_raw.failures[:3]}")
            postgres_home(args, args.pg_home, args.pg_run_db)
        except Exception as exc:  # noqa: BLE001 - an optional variant
            for name in ("postgres", "postgres_nosync"):
                if name in variants:
                    variant_errors[name] = f"{type(exc).__name__}: {str(exc)[:500]}"
                    variants.remove(name)
            log(f"postgres variants left out: {type(exc).__name__}: {str(exc)[:500]}")
        fresh_copy(snapshot, settings.warehouse_path)
    if not variants:
        ap.error("no kontor variant left to measure")
    main_variant = variants[0]
    load_before = os.getloadavg()
    kontor_wh = settings.warehouse_path
    dbt_wh = args.dbt_dir / "dbt_warehouse.duckdb"
    shutil.rmtree(args.dbt_dir, ignore_errors=True)
    write_dbt_project(args.dbt_dir, dbt_wh, models, args.dbt_threads)

    # Warm-up, not timed: a first run of each (bytecode, page cache, dbt's partial-parse file).
    log("warm-up: kontor run, dbt run")
    warm_k = run_kontor(args, snapshot, kontor_wh, main_variant)
    warm_d = run_dbt(args, dbt, snapshot, dbt_wh)
    log(f"  kontor {warm_k['wall_s']:.2f}s ({warm_k['materialized']} assets), dbt {warm_d['wall_s']:.2f}s "
        f"({warm_d['succeeded']} models)")
    if warm_d["succeeded"] != len(models):
        raise SystemExit(f"dbt built {warm_d['succeeded']} of {len(models)} models")

    compiles, kontor_runs, dbt_runs = [], [], []
    variant_runs: dict[str, list[dict]] = {v: [] for v in variants[1:]}
    for rep in range(args.repeats):
        kinds = ["compile", "kontor", *variant_runs, "dbt"]
        order = kinds if rep % 2 == 0 else kinds[::-1]
        for kind in order:
            if kind in variant_runs:
                if kind in variant_errors:
                    continue
                try:
                    v = run_kontor(args, snapshot, kontor_wh, kind)
                except (SystemExit, Exception) as exc:  # noqa: BLE001 - a variant's failure is reported, not fatal
                    variant_errors[kind] = str(exc)[-1500:]
                    log(f"repeat {rep + 1}/{args.repeats} kontor ({kind}) failed: {str(exc)[:300]}")
                    continue
                variant_runs[kind].append(v)
                log(f"repeat {rep + 1}/{args.repeats} kontor ({kind}) {v['wall_s']:.2f}s")
                continue
            if kind == "compile":
                c = _run_child("compile", args, [])
                compiles.append(c)
                log(f"repeat {rep + 1}/{args.repeats} compile {c['compile_s']:.3f}s (imports {c['import_s']:.2f}s)")
            elif kind == "kontor":
                k = run_kontor(args, snapshot, kontor_wh, main_variant)
                kontor_runs.append(k)
                log(f"repeat {rep + 1}/{args.repeats} kontor ({main_variant}) {k['wall_s']:.2f}s "
                    f"(serving step {k['serving_step_s'] or 0:.2f}s)")
            else:
                d = run_dbt(args, dbt, snapshot, dbt_wh)
                dbt_runs.append(d)
                log(f"repeat {rep + 1}/{args.repeats} dbt     {d['wall_s']:.2f}s (run_results elapsed {d['elapsed_s']:.2f}s)")

    # 5. Same contents? Both warehouses hold the last repeat's build.
    log("comparing the two warehouses")
    identical = compare(kontor_wh, dbt_wh, models)

    compile_s = [c["compile_s"] for c in compiles]
    kontor_s = [k["wall_s"] for k in kontor_runs]
    kontor_wo = [k["wall_s"] - (k["serving_step_s"] or 0.0) for k in kontor_runs]
    dbt_s = [d["wall_s"] for d in dbt_runs]
    ratio = statistics.median(kontor_s) / statistics.median(dbt_s)
    ratio_wo = statistics.median(kontor_wo) / statistics.median(dbt_s)
    mix: dict = {}
    for m in models:
        mix.setdefault(m["folder"], {}).setdefault(m["materialized"], 0)
        mix[m["folder"]][m["materialized"]] += 1
    met = {"compile_s": statistics.median(compile_s) <= TARGETS["compile_s"],
           "ratio_kontor_to_dbt": ratio <= TARGETS["ratio_kontor_to_dbt"],
           "identical_tables": not identical["mismatches"]}
    met["all"] = all(met.values())

    import dagster
    import duckdb
    import sqlglot
    out = {
        "benchmark": "models_vs_dbt",
        "models": len(models),
        "model_mix": mix,
        "refs_per_model": {str(k): sum(1 for m in models if len(set(m.get("refs", []))) == k) for k in (1, 2)},
        "scale": args.scale,
        "one_step": not args.per_model,
        "repeats": args.repeats,
        "raw_load_s": round(raw_load_s, 3),
        "compile": {**summary(compile_s),
                    "import_s_median": round(statistics.median(c["import_s"] for c in compiles), 3),
                    "load_models_s_median": round(statistics.median(c["load_models_s"] for c in compiles), 3),
                    "compile_project_s_median": round(statistics.median(c["compile_project_s"] for c in compiles), 3),
                    "output_columns_s_median": round(statistics.median(c["output_columns_s"] for c in compiles), 3)},
        "kontor_run": {**summary(kontor_s),
                       "command": "kontor run " + " ".join(f"--select group:{f}" for f in FOLDERS),
                       "assets_materialized": kontor_runs[-1]["materialized"],
                       "history": main_variant,
                       "what": HISTORY_VARIANTS[main_variant],
                       **({} if main_variant == "none" else {
                           "serving_step_s": summary([k["serving_step_s"] for k in kontor_runs]),
                           "without_serving": summary(kontor_wo),
                           "dagster_run_span_s": summary([k["run_span_s"] for k in kontor_runs]),
                           "model_steps_sum_s": summary([k["model_steps_sum_s"] for k in kontor_runs])})},
        "dbt_run": {**summary(dbt_s),
                    "command": "dbt run (partial parse warm)",
                    "threads": args.dbt_threads,
                    "run_results_elapsed_s": summary([d["elapsed_s"] for d in dbt_runs]),
                    "node_execution_sum_s": summary([d["node_execution_sum_s"] for d in dbt_runs])},
        "ratio": round(ratio, 3),
        "ratio_without_serving": round(ratio_wo, 3) if main_variant != "none" else None,
        "history_variants": {
            "method": "every repeat runs each variant once (the same kontor run command, one setting changed), "
                      "interleaved with dbt and the main kontor run, order reversed on odd repeats; ratio_to_dbt "
                      "divides the variant's median by dbt's median of the same repeats",
            main_variant: {"what": HISTORY_VARIANTS[main_variant], "run": summary(kontor_s), "ratio_to_dbt": round(ratio, 3),
                           "ratio_without_serving": round(ratio_wo, 3) if main_variant != "none" else None},
            **{name: ({"what": HISTORY_VARIANTS[name], "run": summary([r["wall_s"] for r in runs]),
                       "ratio_to_dbt": round(statistics.median(r["wall_s"] for r in runs) / statistics.median(dbt_s), 3),
                       "ratio_without_serving": None if name == "none" else round(
                           statistics.median(r["wall_s"] - (r["serving_step_s"] or 0.0) for r in runs)
                           / statistics.median(dbt_s), 3),
                       "serving_step_s": None if name == "none" else summary([r["serving_step_s"] for r in runs]),
                       "assets_materialized": runs[-1]["materialized"],
                       **({"error": variant_errors[name]} if name in variant_errors else {})}
                      if runs else {"what": HISTORY_VARIANTS[name], "error": variant_errors.get(name, "no run")})
               for name, runs in variant_runs.items()},
            **{name: {"what": HISTORY_VARIANTS[name], "error": err}
               for name, err in variant_errors.items() if name not in variant_runs and name != main_variant},
        },
        "identical_tables": identical,
        "targets": TARGETS,
        "met": met,
        "versions": {**{k: v for k, v in dbt_versions.items()}, "dbt_install": dbt_install,
                     "kontor_duckdb": duckdb.__version__, "dagster": dagster.__version__,
                     "sqlglot": sqlglot.__version__},
        "machine": machine(),
        "workdir": str(workdir),
        "notes": [
            "all times are wall clock; kontor_run and dbt_run are whole CLI invocations in a subprocess "
            "(interpreter start-up, imports, project parse/compile, run), each on a fresh copy of the raw warehouse",
            "kontor run always publishes the serving copy; without_serving subtracts that step's duration "
            "as recorded in the Dagster event log",
            "compile is load_models + compile_project in a fresh process, imports excluded (import_s_median)",
            "dbt runs with a warm partial-parse file (a warm-up run precedes the timed repeats for both tools)",
        ],
    }
    out["machine"]["loadavg_before_after"] = [round(x, 2) for x in (*load_before, *os.getloadavg())]
    if args.profile or not met["all"]:
        # Optional: a failure here is reported in the JSON, never at the cost of the figures above.
        try:
            log("profiling one Kontor run in-process")
            fresh_dagster_home(args)
            prof = _run_child("profile", args, ["--snapshot", str(snapshot)])
            out["profile"] = {k: (round(v, 4) if isinstance(v, float) else
                                  {kk: round(vv, 4) if isinstance(vv, float) else vv for kk, vv in v.items()}
                                  if isinstance(v, dict) else v) for k, v in prof.items()}
            whatif: dict = {name: [] for name in WHATIF} if args.whatif_repeats > 0 else {}
            for rep in range(args.whatif_repeats):
                for name in WHATIF:
                    fresh_dagster_home(args)
                    r = _run_child("whatif", args, ["--snapshot", str(snapshot), "--variant", name])
                    whatif[name].append(r)
                    log(f"what-if {rep + 1}/{args.whatif_repeats} {name:24s} {r['run_s']:.2f}s")
            fresh_dagster_home(args)
            out["what_if"] = None if not whatif else {
                "method": "each variant: fresh process, fresh warehouse and Dagster-instance copies, in-process run of the "
                          "same selection timed from run start to end (imports excluded); variants interleaved; medians",
                "variants": {name: {"what": WHATIF[name],
                                    "run_s": summary([r["run_s"] for r in runs]),
                                    "assets_materialized": runs[-1]["assets_materialized"]}
                             for name, runs in whatif.items()},
            }
        except (SystemExit, Exception) as exc:  # noqa: BLE001 - the measured figures are printed regardless
            out["profile_error"] = str(exc)[-2000:]
            log(f"profile step failed; printing the figures without it: {str(exc)[:200]}")
    print(json.dumps(out, indent=2, ensure_ascii=False))
    return 0


if __name__ == "__main__":
    sys.exit(main())
