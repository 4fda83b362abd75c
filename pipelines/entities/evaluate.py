"""Accuracy against ground truth, when the entity file names one (the demo data has it).

Pairwise precision, recall and F1 over the golden clusters (every pair of records in one cluster
is a predicted match), hard negatives merged, and the share of golden attribute values equal to
the true values. Values are compared as a person reading them would: blanks collapsed; phone
numbers, IBANs and VAT IDs by their standardised form, since "+49 941 123" and "0941/123" are
the same number. A true value that no member record holds (an IBAN of a customer known only to
the CRM, which keeps no IBANs) cannot be in a golden record and is not counted.

``golden_values_ceiling`` is the share of compared values whose true value some member record
holds exactly: no rule can pick a value no system has, so no golden record can score above it
(a supplier known only to the ERP, whose copy of its name has a typo, cannot get its true name).

``golden_values_equal_where_reachable`` counts only values whose true value some member record
holds in a spelling equal to it but for case, umlauts, punctuation and blanks: it measures the
survivorship rules, apart from drift that left no system with the right value.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

import duckdb

from pipelines.entities.spec import ATTRIBUTES, EntitySpec
from pipelines.entities.types import fold
from pipelines.core.sql import literal


def _norm(col: str, attr: str) -> str:
    if attr == "phone":
        digits = f"regexp_replace(regexp_replace(regexp_replace(coalesce({col}, ''), '\\(0\\)', ''), '-0$', ''), '[^0-9+]', '', 'g')"
        return (f"nullif(case when {digits} like '+%' then substr({digits}, 4) when {digits} like '00%' then substr({digits}, 5) "
                f"when {digits} like '0%' then substr({digits}, 2) else {digits} end, '')")
    if attr in ("vat_id", "iban"):
        return f"nullif(upper(regexp_replace({col}, '[^A-Za-z0-9]', '', 'g')), '')"
    if attr == "email":
        return f"nullif(lower(trim({col})), '')"
    return f"nullif(trim(regexp_replace(cast({col} as varchar), '\\s+', ' ', 'g')), '')"


def _loose(col: str, attr: str) -> str:
    """Equal for a reader despite case, umlaut spelling, punctuation and blanks."""
    if attr in ("phone", "vat_id", "iban", "email"):
        return _norm(col, attr)
    return f"regexp_replace({fold(col)}, '[^a-z0-9]', '', 'g')"


def evaluate(con: duckdb.DuckDBPyConnection, spec: EntitySpec, data_dir: Path) -> dict[str, Any] | None:
    gt = spec.ground_truth
    entities_csv = data_dir / gt.get("entities", "") if gt.get("entities") else None
    if entities_csv is None or not entities_csv.is_file():
        return None
    con.execute(f"""create or replace temp table _truth as
        select system || ':' || source_id as unique_id, true_id
        from read_csv({literal(str(entities_csv))}, all_varchar = true)
        where entity_type = {literal(spec.name)}""")
    clusters = spec.table("clusters")
    tp, predicted, truth = con.execute(f"""
        with j as (select c.golden_id, t.true_id from {clusters} c join _truth t using (unique_id)),
        tp as (select sum(n * (n - 1) / 2) as v from (select count(*) as n from j group by golden_id, true_id)),
        pr as (select sum(n * (n - 1) / 2) as v from (select count(*) as n from j group by golden_id)),
        tr as (select sum(n * (n - 1) / 2) as v from (select count(*) as n from _truth group by true_id))
        select coalesce(tp.v, 0), coalesce(pr.v, 0), coalesce(tr.v, 0) from tp, pr, tr
    """).fetchall()[0]
    precision = tp / predicted if predicted else 1.0
    recall = tp / truth if truth else 1.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    result: dict[str, Any] = {"pairs_true": int(truth), "pairs_predicted": int(predicted), "pairs_correct": int(tp),
                              "precision": round(precision, 4), "recall": round(recall, 4), "f1": round(f1, 4)}
    hn_csv = data_dir / gt["hard_negatives"] if gt.get("hard_negatives") else None
    if hn_csv is not None and hn_csv.is_file():
        result["hard_negatives"], result["hard_negatives_merged"] = con.execute(f"""
            with hn as (select true_id_a, true_id_b from read_csv({literal(str(hn_csv))}, all_varchar = true)
                        where entity_type = {literal(spec.name)}),
            g as (select c.golden_id, t.true_id from {clusters} c join _truth t using (unique_id))
            select (select count(*) from hn),
                   (select count(distinct (hn.true_id_a, hn.true_id_b)) from hn
                    join g a on a.true_id = hn.true_id_a join g b on b.true_id = hn.true_id_b and b.golden_id = a.golden_id)
        """).fetchall()[0]
    golden_csv = data_dir / gt["golden"] if gt.get("golden") else None
    if golden_csv is not None and golden_csv.is_file():
        con.execute(f"""create or replace temp table _true_golden as select * from read_csv({literal(str(golden_csv))}, all_varchar = true)
                        where entity_type = {literal(spec.name)}""")
        # a declared entity: its attributes the ground truth has a column for (a reference's golden
        # id is no value a ground truth can know)
        given = {c for (c,) in con.execute("select column_name from (describe _true_golden)").fetchall()}
        names = tuple(a for a in ATTRIBUTES if a in given) if spec.declared is None else \
            tuple(a.name for a in spec.declared if a.type != "reference" and a.name in given)
        # one pass over the members of every golden record, then per attribute: the golden value,
        # the true one, and whether some member holds any value / the true one loosely / exactly
        cols = ", ".join(f"g.{a} as g_{a}, t.{a} as t_{a}, s.{a} as s_{a}" for a in names)
        per_member = " union all ".join(
            f"select {literal(a)} as attribute, golden_id, {_norm('g_' + a, a)} as got, {_norm('t_' + a, a)} as want, "
            f"s_{a} is not null as knowable, {_loose('s_' + a, a)} = {_loose('t_' + a, a)} as reachable, "
            f"{_norm('s_' + a, a)} = {_norm('t_' + a, a)} as held from j" for a in names)
        rows = con.execute(f"""
            with m as (select golden_id, true_id from (
                           select c.golden_id, t.true_id, count(*) as n from {clusters} c join _truth t using (unique_id) group by 1, 2)
                       qualify row_number() over (partition by golden_id order by n desc, true_id) = 1),
            j as materialized (
                select g.golden_id, {cols} from m join {spec.table('golden')} g using (golden_id)
                join _true_golden t using (true_id) join {clusters} c on c.golden_id = g.golden_id
                join {spec.table('standardised')} s on s.unique_id = c.unique_id),
            v as (select attribute, golden_id, any_value(got) as got, any_value(want) as want,
                         bool_or(knowable) as knowable, coalesce(bool_or(reachable), false) as reachable,
                         coalesce(bool_or(held), false) as held
                  from ({per_member}) group by 1, 2)
            select attribute, count(*) filter (where got is not distinct from want), count(*),
                   count(*) filter (where reachable and got is not distinct from want), count(*) filter (where reachable),
                   count(*) filter (where held)
            from v where got is not null or (want is not null and knowable) group by 1 order by 1
        """).fetchall()
        equal = sum(r[1] for r in rows)
        total = sum(r[2] for r in rows)
        result["golden_values_equal"] = round(equal / total, 4) if total else 1.0
        result["golden_values_by_attribute"] = {r[0]: round(r[1] / r[2], 4) for r in rows}
        # the best any survivorship could do: the share of values some member holds exactly as true
        result["golden_values_ceiling"] = round(sum(r[5] for r in rows) / total, 4) if total else 1.0
        reach_equal, reach_total = sum(r[3] for r in rows), sum(r[4] for r in rows)
        result["golden_values_reachable"] = reach_total
        result["golden_values_equal_where_reachable"] = round(reach_equal / reach_total, 4) if reach_total else 1.0
    for temp in ("_truth", "_true_golden"):
        con.execute(f"drop table if exists {temp}")
    return result


def queue_figures(con: duckdb.DuckDBPyConnection, spec: EntitySpec, data_dir: Path) -> dict[str, Any]:
    """Review-queue size per 1,000 records and its precision: the share of open items where a
    human was needed. A pair kept apart needs one if the two are one entity; an oversized cluster
    if it mixes entities; a critical conflict (which value is right) and a record without a
    usable name always do. Empty without ground truth."""
    gt = spec.ground_truth
    truth = data_dir / gt["entities"] if gt.get("entities") else None
    if truth is None or not truth.is_file():
        return {}
    con.execute(f"""create or replace temp table _t as select system || ':' || source_id as unique_id, true_id
                    from read_csv({literal(str(truth))}, all_varchar = true) where entity_type = {literal(spec.name)}""")
    items = con.execute(f"""
        with q as (select item_id, kind, priority, golden_ids, members from {spec.table('review_queue')} where status = 'open'),
        m as (select q.item_id, q.kind, q.priority, unnest(q.members).unique_id as unique_id from q)
        select m.item_id, any_value(m.kind), any_value(m.priority), count(distinct t.true_id), count(*)
        from m join _t t using (unique_id) group by 1 order by any_value(m.priority), 1""").fetchall()
    records = con.execute(f"select count(*) from {spec.table('standardised')}").fetchall()[0][0]
    needed = 0
    for item_id, kind, _, true_ids, members in items:
        if kind == "pair":          # kept apart automatically: a human was needed if they are one entity
            needed += true_ids == 1
        elif item_id.endswith(":size"):
            needed += true_ids > 1  # an oversized cluster that really mixes entities
        elif kind == "cluster":     # critical attribute conflict: a human decides which value (or splits)
            needed += 1
        elif item_id.endswith(":ambiguous"):
            needed += true_ids < members     # left on its own, but it belongs to one of the candidates
        else:
            needed += 1             # a record without a usable name
    con.execute("drop table _t")
    return {"review_items": len(items), "review_items_per_1000_records": round(1000 * len(items) / records, 1),
            "review_precision": round(needed / len(items), 4) if items else 1.0}
