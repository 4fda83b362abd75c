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

from sqlglot import exp

from pipelines.engines.connection import Connection
from pipelines.entities.spec import ATTRIBUTES, EntitySpec
from pipelines.entities.types import Phone, fold, upper_alnum
from pipelines.core.sql import render, table_expr, template, verbatim


def _sql(name: str, **names: Any) -> str:
    return render(template(__file__, name), **names)


def _norm(col: str, attr: str) -> exp.Expression:
    """A value as a reader compares it: a phone number's digits (``types.Phone.dialled``) without
    '(0)', country code or trunk prefix; an IBAN or VAT ID's letters and digits in upper case; an
    e-mail address trimmed, lower case; anything else as text, blanks collapsed."""
    column = exp.column(col, quoted=True)
    if attr == "phone":
        return verbatim(_sql("eval_norm_phone", digits=verbatim(Phone.dialled(column.sql("duckdb")))))
    if attr in ("vat_id", "iban"):
        return verbatim(upper_alnum(column.sql("duckdb")))
    return verbatim(_sql("eval_norm_email" if attr == "email" else "eval_norm_text", col=column))


def _loose(col: str, attr: str) -> exp.Expression:
    """Equal for a reader despite case, umlaut spelling, punctuation and blanks."""
    if attr in ("phone", "vat_id", "iban", "email"):
        return _norm(col, attr)
    return verbatim(_sql("eval_loose", folded=verbatim(fold(exp.column(col, quoted=True).sql("duckdb")))))


def _per_member(names: tuple[str, ...]) -> exp.Subquery:
    """Per attribute and member: the golden value, the true one, and whether the member holds any
    value / the true one loosely / exactly."""
    def row(a: str) -> exp.Select:
        return exp.select(exp.alias_(exp.Literal.string(a), "attribute"), "golden_id",
                          exp.alias_(_norm("g_" + a, a), "got"), exp.alias_(_norm("t_" + a, a), "want"),
                          exp.alias_(exp.column("s_" + a, quoted=True).is_(exp.null()).not_(), "knowable"),
                          exp.alias_(exp.EQ(this=_loose("s_" + a, a), expression=_loose("t_" + a, a)), "reachable"),
                          exp.alias_(exp.EQ(this=_norm("s_" + a, a), expression=_norm("t_" + a, a)), "held")).from_("j")
    return exp.union(*(row(a) for a in names), distinct=False).subquery() if len(names) > 1 else row(names[0]).subquery()


def evaluate(con: Connection, spec: EntitySpec, data_dir: Path) -> dict[str, Any] | None:
    gt = spec.ground_truth
    entities_csv = data_dir / gt.get("entities", "") if gt.get("entities") else None
    if entities_csv is None or not entities_csv.is_file():
        return None
    con.execute(template(__file__, "eval_truth"), [str(entities_csv), spec.name])
    clusters = table_expr(spec.table("clusters"))
    tp, predicted, truth = con.execute(_sql("eval_pairs", clusters=clusters)).fetchall()[0]
    precision = tp / predicted if predicted else 1.0
    recall = tp / truth if truth else 1.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    result: dict[str, Any] = {"pairs_true": int(truth), "pairs_predicted": int(predicted), "pairs_correct": int(tp),
                              "precision": round(precision, 4), "recall": round(recall, 4), "f1": round(f1, 4)}
    hn_csv = data_dir / gt["hard_negatives"] if gt.get("hard_negatives") else None
    if hn_csv is not None and hn_csv.is_file():
        result["hard_negatives"], result["hard_negatives_merged"] = con.execute(
            _sql("eval_hard_negatives", clusters=clusters), [str(hn_csv), spec.name]).fetchall()[0]
    golden_csv = data_dir / gt["golden"] if gt.get("golden") else None
    if golden_csv is not None and golden_csv.is_file():
        con.execute(template(__file__, "eval_true_golden"), [str(golden_csv), spec.name])
        # a declared entity: its attributes the ground truth has a column for (a reference's golden
        # id is no value a ground truth can know)
        given = {c for (c,) in con.execute("select column_name from (describe _true_golden)").fetchall()}
        names = tuple(a for a in ATTRIBUTES if a in given) if spec.declared is None else \
            tuple(a.name for a in spec.declared if a.type != "reference" and a.name in given)
        # one pass over the members of every golden record, then per attribute: the golden value,
        # the true one, and whether some member holds any value / the true one loosely / exactly
        cols = [exp.alias_(exp.column(a, side, quoted=True), f"{side}_{a}", quoted=True)
                for a in names for side in ("g", "t", "s")]
        rows = con.execute(_sql("eval_golden_values", clusters=clusters, cols=cols, golden=table_expr(spec.table("golden")),
                                standardised=table_expr(spec.table("standardised")),
                                per_member=_per_member(names))).fetchall()
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
        con.execute(_sql("drop_table", table=temp))
    return result


def queue_figures(con: Connection, spec: EntitySpec, data_dir: Path) -> dict[str, Any]:
    """Review-queue size per 1,000 records and its precision: the share of open items where a
    human was needed. A pair kept apart needs one if the two are one entity; an oversized cluster
    if it mixes entities; a critical conflict (which value is right) and a record without a
    usable name always do. Empty without ground truth."""
    gt = spec.ground_truth
    truth = data_dir / gt["entities"] if gt.get("entities") else None
    if truth is None or not truth.is_file():
        return {}
    con.execute(template(__file__, "eval_truth"), [str(truth), spec.name])
    items = con.execute(_sql("eval_queue_items", queue=table_expr(spec.table("review_queue")))).fetchall()
    records = con.execute(_sql("count", relation=table_expr(spec.table("standardised")))).fetchall()[0][0]
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
    con.execute(_sql("drop_table", table="_truth"))
    return {"review_items": len(items), "review_items_per_1000_records": round(1000 * len(items) / records, 1),
            "review_precision": round(needed / len(items), 4) if items else 1.0}
