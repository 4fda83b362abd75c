"""Entity-resolution prototype for Kontor: customers (CRM + ERP + DATEV debitoren) and suppliers
(ERP + DATEV kreditoren) with Splink 5 on DuckDB, measured against the demo ground truth.

    .venv/bin/python scratch_splink/prototype.py --scale 1            # JSON metrics on stdout
    .venv/bin/python scratch_splink/prototype.py --scale 1 --viz      # + dashboards / model JSON in out/

Only touches files under scratch_splink/.
"""
from __future__ import annotations

import argparse
import copy
import json
import logging
import resource
import sys
import time
from pathlib import Path

import duckdb

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from build_staging import build  # noqa: E402
from standardise import standardise  # noqa: E402

SYSTEMS = {"customer": ["crm", "erp", "accounting"], "supplier": ["erp", "accounting"]}
THRESHOLDS = [0.5, 0.8, 0.9, 0.95, 0.99, 0.999]

# ----------------------------------------------------------------------------------------------
# The Splink settings, as plain data (this dict is what FINDINGS.md shows as YAML).
# Comparisons are written as SQL levels so that the dict round-trips through YAML/JSON unchanged.

NULL = {"is_null_level": True, "label_for_charts": "null"}


def _jw(col: str, t: float) -> str:
    return f"jaro_winkler_similarity({col}_l, {col}_r) >= {t}"


NAME_COMPARISON = {
    "output_column_name": "name",
    "comparison_description": "normalised name without legal form (name_key); jaro-winkler also covers "
                              "DATEV's 30-char cut (common prefix)",
    "comparison_levels": [
        {"sql_condition": "name_key_l IS NULL OR name_key_r IS NULL", **NULL},
        {"sql_condition": "name_key_l = name_key_r", "label_for_charts": "exact",
         "tf_adjustment_column": "name_key", "tf_adjustment_weight": 1.0},
        # the cut record must be the shorter one: 'Eder & Ziegler Haustechnik GbR' (30 chars) is no cut
        # version of 'Eder & Ziegler GbR'
        {"sql_condition": "(name_trunc_l AND length(name_key_l) >= 8 AND starts_with(name_key_r, name_key_l)) OR "
                          "(name_trunc_r AND length(name_key_r) >= 8 AND starts_with(name_key_l, name_key_r))",
         "label_for_charts": "prefix match (name cut at 30 chars)"},
        # one typo = one edit; jaro-winkler alone rates 'dachdeckereimoser' ~ 'dachdeckereimoeller' >= 0.95
        # because of the long generic prefix
        # (jaro-winkler first: DuckDB's damerau_levenshtein costs 20 s per 8.7M pairs, the guard makes it 1.5 s)
        {"sql_condition": "jaro_winkler_similarity(name_key_l, name_key_r) >= 0.85 AND "
                          "damerau_levenshtein(name_key_l, name_key_r) <= 1", "label_for_charts": "one edit"},
        {"sql_condition": "(name_trunc_l OR name_trunc_r) AND jaro_winkler_similarity("
                          "left(name_key_l, least(length(name_key_l), length(name_key_r))), "
                          "left(name_key_r, least(length(name_key_l), length(name_key_r)))) >= 0.92",
         "label_for_charts": "jaro-winkler >= 0.92 on common prefix (cut name)"},
        {"sql_condition": "jaro_winkler_similarity(name_key_l, name_key_r) >= 0.85 AND "
                          "damerau_levenshtein(name_key_l, name_key_r) <= 2", "label_for_charts": "two edits"},
        {"sql_condition": _jw("name_key", 0.92), "label_for_charts": "jaro-winkler >= 0.92"},
        {"sql_condition": _jw("name_key", 0.8), "label_for_charts": "jaro-winkler >= 0.8"},
        {"sql_condition": "ELSE", "label_for_charts": "else"},
    ],
}

LEGAL_FORM_COMPARISON = {
    "output_column_name": "legal_form",
    "comparison_levels": [
        {"sql_condition": "legal_form_l IS NULL OR legal_form_r IS NULL", **NULL},
        {"sql_condition": "legal_form_l = legal_form_r", "label_for_charts": "exact"},
        {"sql_condition": "ELSE", "label_for_charts": "different legal form"},
    ],
}

ADDRESS_COMPARISON = {
    # one comparison for the whole address: a move changes street, postcode and city together, so
    # separate comparisons would count the same evidence three times (independence assumption)
    "output_column_name": "address",
    "comparison_levels": [
        {"sql_condition": "(postcode_l IS NULL OR postcode_r IS NULL) AND (city_key_l IS NULL OR city_key_r IS NULL)",
         **NULL},
        {"sql_condition": "postcode_l = postcode_r AND street_key_l = street_key_r AND house_number_l = house_number_r",
         "label_for_charts": "postcode + street + house no"},
        {"sql_condition": "postcode_l = postcode_r AND " + _jw("street_key", 0.9) +
                          " AND house_number_l = house_number_r",
         "label_for_charts": "postcode + street (jw >= 0.9) + house no"},
        {"sql_condition": "(postcode_l = postcode_r OR city_key_l = city_key_r) AND " + _jw("street_key", 0.9),
         "label_for_charts": "postcode or city + street (jw >= 0.9), house no differs"},
        {"sql_condition": "postcode_l = postcode_r", "label_for_charts": "postcode only"},
        {"sql_condition": "city_key_l = city_key_r", "label_for_charts": "city only"},
        {"sql_condition": "ELSE", "label_for_charts": "different address"},
    ],
}


def _exact(col: str, tf: bool = False) -> dict:
    exact = {"sql_condition": f"{col}_l = {col}_r", "label_for_charts": "exact"}
    if tf:
        exact.update({"tf_adjustment_column": col, "tf_adjustment_weight": 1.0})
    return {"output_column_name": col, "comparison_levels": [
        {"sql_condition": f"{col}_l IS NULL OR {col}_r IS NULL", **NULL}, exact,
        {"sql_condition": "ELSE", "label_for_charts": "different"}]}


EMAIL_COMPARISON = {
    "output_column_name": "email",
    "comparison_levels": [
        {"sql_condition": "email_l IS NULL OR email_r IS NULL", **NULL},
        {"sql_condition": "email_l = email_r", "label_for_charts": "exact"},
        {"sql_condition": "email_domain_l = email_domain_r", "label_for_charts": "same company domain (no freemail)",
         "tf_adjustment_column": "email_domain", "tf_adjustment_weight": 1.0},
        {"sql_condition": "ELSE", "label_for_charts": "different"},
    ],
}

PREDICTION_BLOCKING = [
    # strings are Splink blocking-rule SQL; block_on(...) objects create the same.
    # Not plain "l.postcode = r.postcode": its pair count grows with the square of the records per postcode
    # (117k pairs at scale 1, 11.7M at scale 10) and the street prefix keeps the same recall.
    "l.postcode = r.postcode AND substr(l.street_key, 1, 4) = substr(r.street_key, 1, 4)",
    "l.vat_id = r.vat_id",
    "l.iban = r.iban",
    "l.phone = r.phone",
    "l.email_domain = r.email_domain",
    # name: 10-char prefix, plus first 3 + last 6 chars (typo in the first word); substr(name_key,1,6) alone
    # gave 5.2M pairs at scale 10 for lower recall (generic prefixes such as 'baecke', 'metzge', 'gastho')
    "substr(l.name_key, 1, 10) = substr(r.name_key, 1, 10)",
    "substr(l.name_key, 1, 3) = substr(r.name_key, 1, 3) AND right(l.name_key, 6) = right(r.name_key, 6)",
    "l.city_key = r.city_key AND l.street_key = r.street_key",
]


# m floors: EM on this synthetic data learns m = 0 for "different VAT / phone / e-mail", i.e. weights of
# -40 bits that veto a match on a single disagreeing field. Real data has stale phones and typo'd but valid
# VAT IDs, so these levels get a fixed, small m instead (fix_m_probability keeps EM off them). The two
# address levels that hardly occur among matches (so EM cannot train them) get a fixed m as well.
M_FLOORS = {("vat_id", "different"): 0.01, ("phone", "different"): 0.05, ("email", "different"): 0.05,
            ("address", "postcode or city + street (jw >= 0.9), house no differs"): 0.005,
            ("address", "city only"): 0.01}


# EM learns m = 0 for "different legal form" once the legal form is extracted reliably (a -50 bit veto);
# it is fixed at 1 % instead (conversions GmbH -> GmbH & Co. KG do happen); measured: same P/R/F1 and
# hard-negative margin as the veto at scale 1 and 10 (variant no_lf_m_floor = the veto)
LF_FLOOR = (("legal_form", "different legal form"), 0.01)


def split_address_comparisons() -> list[dict]:
    """Ablation: postcode / street / house number / city as independent comparisons."""
    return [
        _exact("postcode"),
        {"output_column_name": "street", "comparison_levels": [
            {"sql_condition": "street_key_l IS NULL OR street_key_r IS NULL", **NULL},
            {"sql_condition": "street_key_l = street_key_r", "label_for_charts": "exact"},
            {"sql_condition": _jw("street_key", 0.9), "label_for_charts": "jw >= 0.9"},
            {"sql_condition": "ELSE", "label_for_charts": "different"}]},
        _exact("house_number"),
        _exact("city_key"),
    ]


def library_comparisons():
    """Ablation / API demo: the stock splink_comparison_library comparisons on the same columns."""
    import splink.comparison_library as cl
    return [
        cl.NameComparison("name_key").configure(term_frequency_adjustments=True),
        cl.ExactMatch("legal_form"),
        cl.ExactMatch("postcode"),
        cl.JaroWinklerAtThresholds("street_key", [0.9]),
        cl.ExactMatch("house_number"),
        cl.ExactMatch("city_key"),
        cl.ExactMatch("vat_id"),
        cl.ExactMatch("iban").configure(term_frequency_adjustments=True),
        # cl.EmailComparison("email") is NOT used: its 'Exact match on username' level (info@ = info@) only
        # occurs among non-matches in the name_key EM block, EM sets m = 0.0 and Splink 5.0.0 raises
        # "ValueError: m_probability value 0.0 is below the minimum allowed value of 1e-300"
        cl.ExactMatch("email_domain").configure(term_frequency_adjustments=True),
        cl.ExactMatch("phone"),
    ]


def settings_dict(link_type: str, opts: dict | None = None) -> dict:
    # trunc_levels off by default: measured, the two cut-name levels add no recall (jaro-winkler already
    # rewards the common prefix of a cut name) but lifted a hard negative to p = 0.76 at scale 10
    o = {"m_floors": True, "split_address": False, "trunc_levels": False, "tf": True, "library": False,
         "lf_floor": True, "id_u_fixed": False,
         **(opts or {})}
    name = copy.deepcopy(NAME_COMPARISON)
    if not o["trunc_levels"]:
        name["comparison_levels"] = [lv for lv in name["comparison_levels"] if "name_trunc" not in lv["sql_condition"]]
    comparisons = [name, copy.deepcopy(LEGAL_FORM_COMPARISON)]
    comparisons += split_address_comparisons() if o["split_address"] else [copy.deepcopy(ADDRESS_COMPARISON)]
    comparisons += [_exact("vat_id"), _exact("iban", tf=True), copy.deepcopy(EMAIL_COMPARISON), _exact("phone")]
    for c in comparisons:
        for lv in c["comparison_levels"]:
            if not o["tf"]:
                lv.pop("tf_adjustment_column", None)
                lv.pop("tf_adjustment_weight", None)
            floor = M_FLOORS.get((c["output_column_name"], lv.get("label_for_charts")))
            if o["lf_floor"] and (c["output_column_name"], lv.get("label_for_charts")) == LF_FLOOR[0]:
                floor = LF_FLOOR[1]
            if o["m_floors"] and floor is not None:
                lv.update({"m_probability": floor, "fix_m_probability": True})
    if o["id_u_fixed"]:   # u of an exact VAT / IBAN match among non-matches: collisions only, not ~lambda
        for c in comparisons:
            if c["output_column_name"] in ("vat_id", "iban"):
                for lv in c["comparison_levels"]:
                    if lv.get("label_for_charts") == "exact":
                        lv.update({"u_probability": 1e-6, "fix_u_probability": True})
    if o["library"]:
        comparisons = library_comparisons()
    return {
        "link_type": link_type,
        "unique_id_column_name": "unique_id",
        "source_dataset_column_name": "source_dataset",
        "probability_two_random_records_match": 0.0005,   # re-estimated in training
        "em_convergence": 0.0001,
        "max_iterations": 25,
        "retain_matching_columns": True,
        "retain_intermediate_calculation_columns": True,   # needed by waterfall / comparison viewer
        "additional_columns_to_retain": ["source_system", "source_id", "name_raw"],
        "comparisons": comparisons,
        "blocking_rules_to_generate_predictions": [
            {"blocking_rule": r} for r in PREDICTION_BLOCKING],
    }


VARIANTS = {
    # name: (standardise opts, settings opts)
    "full": ({}, {}),
    "no_m_floors": ({}, {"m_floors": False}),
    "no_fold": ({"fold": False}, {}),
    "no_legal_form": ({"legal_form": False}, {}),
    "no_lf_fuzzy": ({"lf_fuzzy": False}, {}),
    "no_abbrev": ({"abbrev": False}, {}),
    "no_name2_join": ({"name2_join": False}, {}),
    "no_id_validation": ({"id_validation": False}, {}),
    "no_street_norm": ({"street_norm": False}, {}),
    "no_city_norm": ({"city_norm": False}, {}),
    "no_phone_norm": ({"phone_norm": False}, {}),
    "with_trunc_levels": ({}, {"trunc_levels": True}),
    "no_lf_m_floor": ({}, {"lf_floor": False}),
    "id_u_fixed": ({}, {"id_u_fixed": True}),
    "no_tf": ({}, {"tf": False}),
    "split_address": ({}, {"split_address": True}),
    "library_comparisons": ({}, {"library": True}),
    "minimal_std_library": ({k: False for k in ("fold", "legal_form", "lf_fuzzy", "abbrev", "name2_join", "id_validation",
                                                 "street_norm", "city_norm", "phone_norm")}, {"library": True}),
}


DETERMINISTIC_RULES = ["l.vat_id = r.vat_id", "l.iban = r.iban",
                       "l.name_key = r.name_key AND l.postcode = r.postcode"]
DETERMINISTIC_RECALL = 0.85
EM_BLOCKS = ["l.name_key = r.name_key", "l.postcode = r.postcode", "l.vat_id = r.vat_id"]
EM_MAX_PAIRS = 1e6   # Splink 5: sample the blocked pairs of an EM session (postcode block: 11.7M pairs at scale 10)

# columns handed to Splink
MATCH_COLS = ["unique_id", "source_system", "source_id", "name_raw", "name", "name_key", "name_trunc", "legal_form",
              "street", "street_key", "house_number", "postcode", "city_key", "country", "vat_id", "iban", "email",
              "email_domain", "phone", "updated_at"]


# ----------------------------------------------------------------------------------------------

class Timer:
    def __init__(self) -> None:
        self.t: dict[str, float] = {}

    def __call__(self, name: str):
        timer = self

        class _T:
            def __enter__(self):
                self.s = time.perf_counter()

            def __exit__(self, *a):
                timer.t[name] = round(timer.t.get(name, 0) + time.perf_counter() - self.s, 3)
        return _T()


def load_truth(con: duckdb.DuckDBPyConnection, data_dir: Path) -> None:
    gt = data_dir / "ground_truth"
    con.execute(f"""create or replace table truth as
        select entity_type, true_id, system || ':' || source_id as unique_id
        from read_csv('{gt / 'entities.csv'}', all_varchar = true)""")
    con.execute(f"""create or replace table hard_neg as
        select entity_type, true_id_a, true_id_b from read_csv('{gt / 'hard_negatives.csv'}', all_varchar = true)""")


def make_linker(con, db_api, table: str, entity: str, link_type: str, settings):
    """Register the input(s) and return a Linker. link_and_dedupe / link_only: one SplinkDataFrame per
    system; dedupe_only: the union with its own source_dataset column."""
    from splink import Linker
    cols = ", ".join(MATCH_COLS)
    if link_type == "dedupe_only":
        con.execute(f"create or replace table in_{entity}_all as select {cols}, source_system as source_dataset from {table}")
        sdfs = db_api.register(f"in_{entity}_all")
    else:
        sdfs = []
        for s in SYSTEMS[entity]:
            con.execute(f"create or replace table in_{entity}_{s} as select {cols} from {table} where source_system = '{s}'")
            # string = an existing table in the connection; dataset_display_name becomes source_dataset
            sdfs.append(db_api.register(f"in_{entity}_{s}", dataset_display_name=s))
    return Linker(sdfs, settings, log_level=logging.WARNING), sdfs


def pair_metrics(con, pairs_sql: str, entity: str) -> dict:
    """Pairwise precision / recall / F1 for a relation of (a, b) unique_id pairs, a < b."""
    r = con.execute(f"""
    with p as (select distinct least(a, b) as a, greatest(a, b) as b from ({pairs_sql})),
    lab as (select p.a, p.b, x.true_id as ta, y.true_id as tb
            from p join truth x on x.unique_id = p.a join truth y on y.unique_id = p.b)
    select
        (select count(*) from p) as predicted,
        (select count(*) from lab where ta = tb) as tp,
        (select count(*) from truth l join truth r on l.true_id = r.true_id and l.unique_id < r.unique_id
         where l.entity_type = '{entity}') as truth_pairs,
        (select count(*) from lab join hard_neg h on h.entity_type = '{entity}'
            and ((h.true_id_a = lab.ta and h.true_id_b = lab.tb) or (h.true_id_a = lab.tb and h.true_id_b = lab.ta)))
            as hard_negative_pairs
    """).fetchall()[0]
    predicted, tp, truth_pairs, hn = r
    prec = tp / predicted if predicted else 1.0
    rec = tp / truth_pairs if truth_pairs else 1.0
    f1 = 2 * prec * rec / (prec + rec) if prec + rec else 0.0
    return {"predicted_pairs": predicted, "tp": tp, "fp": predicted - tp, "fn": truth_pairs - tp,
            "precision": round(prec, 4), "recall": round(rec, 4), "f1": round(f1, 4),
            "hard_negative_record_pairs_merged": hn}


def cluster_pairs_sql(clustered_table: str) -> str:
    return f"""select l.unique_id as a, r.unique_id as b from {clustered_table} l join {clustered_table} r
               on l.cluster_id = r.cluster_id and l.unique_id < r.unique_id"""


def run_entity(con, entity: str, link_type: str, args, timer: Timer, out_dir: Path) -> dict:
    from splink import DuckDBAPI, block_on  # noqa: F401  (block_on: see FINDINGS for equivalent calls)

    res: dict = {"entity": entity, "link_type": link_type, "variant": args.variant}
    with timer(f"{entity}.standardise"):
        std_opts, set_opts = VARIANTS[args.variant]
        table = standardise(con, entity, res.setdefault("std_timings", {}), std_opts)
    res["records"] = dict(con.execute(f"select source_system, count(*) from {table} group by 1 order by 1").fetchall())

    db_api = DuckDBAPI(connection=con)
    settings = settings_dict(link_type, set_opts)
    with timer(f"{entity}.train"):
        linker, sdfs = make_linker(con, db_api, table, entity, link_type, settings)
        linker.training.estimate_probability_two_random_records_match(
            DETERMINISTIC_RULES, recall=DETERMINISTIC_RECALL)
        linker.training.estimate_u_using_random_sampling(max_pairs=args.u_pairs, seed=1)
        for br in EM_BLOCKS:
            linker.training.estimate_parameters_using_expectation_maximisation(
                br, estimate_without_term_frequencies=False, max_pairs=args.em_max_pairs or None)
    res["lambda"] = linker._settings_obj._probability_two_random_records_match

    import yaml
    (out_dir / f"settings_{entity}_{link_type}.yaml").write_text(
        yaml.safe_dump(settings if isinstance(settings, dict) and not set_opts.get("library") else
                       {"note": "library comparisons: see model JSON"}, sort_keys=False, allow_unicode=True))
    model_path = out_dir / f"model_{entity}_{link_type}.json"
    linker.misc.save_model_to_json(str(model_path), overwrite=True)

    with timer(f"{entity}.predict"):
        df_pred = linker.inference.predict(threshold_match_probability=args.min_prob)
    pred_tbl = df_pred.physical_name
    res["scored_pairs_above_min_prob"] = con.execute(f"select count(*) from {pred_tbl}").fetchall()[0][0]

    # blocking recall: share of true pairs that the prediction blocking rules generate at all
    with timer(f"{entity}.blocking_recall"):
        bp = linker.inference.compute_blocked_pairs_for_predict()   # cached: predict() reused it
        res["blocked_pairs"] = con.execute(f"select count(*) from {bp.physical_name}").fetchall()[0][0]
        res["blocking_recall"] = pair_metrics(
            con, f"""select split_part(join_key_l, '-__-', 2) as a, split_part(join_key_r, '-__-', 2) as b
                     from {bp.physical_name}""" if link_type != "dedupe_only" else
                 f"select join_key_l as a, join_key_r as b from {bp.physical_name}", entity)["recall"]
        res["blocking_rule_counts"] = {
            r["blocking_rule"]: r["marginal_comparison_count"]
            for r in linker.blocking_analysis.count_comparisons_from_blocking_rules(record_sample_proportion=1.0)}
        # all scored pairs (for FN inspection and the hard-negative margin); only where that is cheap
        df_all = linker.inference.predict(threshold_match_probability=None) if args.scale <= 2 else None
    hn_src = df_all if df_all is not None else df_pred
    gammas = [c for (c,) in con.execute(
        f"select column_name from duckdb_columns() where table_name = '{hn_src.physical_name}' "
        "and column_name like 'gamma_%' order by column_index").fetchall()]
    res["hard_negative_top"] = [dict(zip(["p", f"gammas({','.join(g[6:] for g in gammas)})", "a", "b"], r))
                                for r in con.execute(f"""
        select round(p.match_probability, 3),
               concat_ws(',', {', '.join('p.' + g for g in gammas)}),
               p.name_raw_l || ' | ' || coalesce(p.street_key_l, '') || ' ' || coalesce(p.house_number_l, '') || ', ' || coalesce(p.postcode_l, ''),
               p.name_raw_r || ' | ' || coalesce(p.street_key_r, '') || ' ' || coalesce(p.house_number_r, '') || ', ' || coalesce(p.postcode_r, '')
        from {hn_src.physical_name} p
        join truth x on x.unique_id = p.unique_id_l join truth y on y.unique_id = p.unique_id_r
        join hard_neg h on h.entity_type = '{entity}' and ((h.true_id_a = x.true_id and h.true_id_b = y.true_id)
                                                       or (h.true_id_a = y.true_id and h.true_id_b = x.true_id))
        order by 1 desc limit 5""").fetchall()] if not set_opts.get("library") else []
    res["hard_negative_max_match_probability"] = con.execute(f"""
        select max(p.match_probability) from {hn_src.physical_name} p
        join truth x on x.unique_id = p.unique_id_l join truth y on y.unique_id = p.unique_id_r
        join hard_neg h on h.entity_type = '{entity}' and ((h.true_id_a = x.true_id and h.true_id_b = y.true_id)
                                                       or (h.true_id_a = y.true_id and h.true_id_b = x.true_id))
        """).fetchall()[0][0]

    res["pairs"], res["clusters"] = {}, {}
    with timer(f"{entity}.cluster+eval"):
        for t in THRESHOLDS:
            res["pairs"][str(t)] = pair_metrics(
                con, f"select unique_id_l as a, unique_id_r as b from {pred_tbl} where match_probability >= {t}",
                entity)
            df_c = linker.clustering.cluster_pairwise_predictions_at_threshold(df_pred, threshold_match_probability=t)
            res["clusters"][str(t)] = pair_metrics(con, cluster_pairs_sql(df_c.physical_name), entity)
            if args.single_best:
                try:
                    df_s = linker.clustering.cluster_using_single_best_links(
                        df_pred, duplicate_free_datasets=SYSTEMS[entity], threshold_match_probability=t)
                    res.setdefault("single_best_links", {})[str(t)] = pair_metrics(
                        con, cluster_pairs_sql(df_s.physical_name), entity)
                except Exception as exc:  # report, don't die
                    res.setdefault("single_best_links", {})["error"] = f"{type(exc).__name__}: {exc}"[:300]
    # recall per pair of systems (which system pairs are hard?), clusters at 0.9
    df_c9 = linker.clustering.cluster_pairwise_predictions_at_threshold(df_pred, threshold_match_probability=0.9)
    res["cluster_recall_by_system_pair@0.9"] = {
        f"{sa}-{sb}": {"truth_pairs": n, "found": k, "recall": round(k / n, 4)}
        for sa, sb, n, k in con.execute(f"""
        with tp as (select l.unique_id as a, r.unique_id as b from truth l join truth r
                    on l.true_id = r.true_id and l.unique_id < r.unique_id where l.entity_type = '{entity}'),
             cp as ({cluster_pairs_sql(df_c9.physical_name)})
        select split_part(tp.a, ':', 1), split_part(tp.b, ':', 1), count(*), count(cp.a)
        from tp left join cp on cp.a = tp.a and cp.b = tp.b group by 1, 2 order by 1, 2""").fetchall()}
    best_t = max(res["clusters"], key=lambda k: res["clusters"][k]["f1"])
    res["best_cluster_threshold"] = float(best_t)
    res["best_cluster_f1"] = res["clusters"][best_t]["f1"]

    if args.dump_errors:
        dump_errors(con, linker, df_pred, df_all, entity, args.error_threshold, out_dir)

    if args.viz:
        with timer(f"{entity}.viz"):
            res["viz"] = visualise(con, linker, df_pred, float(best_t), entity, out_dir)
        with timer(f"{entity}.reload_model"):
            res["reloaded_model_same_predictions"] = reload_check(con, model_path, table, entity, link_type,
                                                                  pred_tbl, args)
    return res


def dump_errors(con, linker, df_pred, df_all, entity, t, out_dir: Path) -> None:
    """False negatives / false positives after clustering at t, with the pair's scores, to a CSV."""
    df_c = linker.clustering.cluster_pairwise_predictions_at_threshold(df_pred, threshold_match_probability=t)
    scores = df_all.physical_name if df_all is not None else df_pred.physical_name
    std = f"std_{entity}s"
    gcols = ", ".join(f"s.{c}" for (c,) in con.execute(
        f"select column_name from duckdb_columns() where table_name = '{scores}' "
        "and column_name like 'gamma_%' order by column_index").fetchall())
    con.execute(f"""
    copy (
      with cp as ({cluster_pairs_sql(df_c.physical_name)}),
      tp as (select l.unique_id as a, r.unique_id as b from truth l join truth r
             on l.true_id = r.true_id and l.unique_id < r.unique_id where l.entity_type = '{entity}'),
      err as (select 'FN' as kind, a, b from tp except select 'FN', a, b from cp
              union all
              select 'FP', a, b from (select a, b from cp except select a, b from tp))
      select err.kind, s.match_probability, s.match_weight, {gcols},
             x.name_raw as name_a, y.name_raw as name_b, x.legal_form as lf_a, y.legal_form as lf_b,
             x.street || ' ' || coalesce(x.house_number, '') || ', ' || coalesce(x.postcode, '') || ' ' || coalesce(x.city, '') as addr_a,
             y.street || ' ' || coalesce(y.house_number, '') || ', ' || coalesce(y.postcode, '') || ' ' || coalesce(y.city, '') as addr_b,
             x.vat_id as vat_a, y.vat_id as vat_b, x.iban as iban_a, y.iban as iban_b, x.email as email_a, y.email as email_b,
             x.phone as phone_a, y.phone as phone_b, err.a, err.b, ta.true_id as true_a, tb.true_id as true_b
      from err
      join {std} x on x.unique_id = err.a join {std} y on y.unique_id = err.b
      join truth ta on ta.unique_id = err.a join truth tb on tb.unique_id = err.b
      left join {scores} s on (s.unique_id_l = err.a and s.unique_id_r = err.b) or (s.unique_id_l = err.b and s.unique_id_r = err.a)
      order by kind, match_probability desc nulls last
    ) to '{out_dir / f"errors_{entity}.csv"}' (header)
    """)


def visualise(con, linker, df_pred, t, entity, out_dir: Path) -> dict:
    """Write the dashboards and check the HTML for URLs that a browser would fetch."""
    import re
    df_c = linker.clustering.cluster_pairwise_predictions_at_threshold(df_pred, threshold_match_probability=t)
    files = {}
    p = out_dir / f"comparison_viewer_{entity}.html"
    linker.visualisations.comparison_viewer_dashboard(df_pred, str(p), overwrite=True, num_example_rows=2)
    files["comparison_viewer"] = p
    p = out_dir / f"cluster_studio_{entity}.html"
    linker.visualisations.cluster_studio_dashboard(df_pred, df_c, str(p), sampling_method="by_cluster_size",
                                                   sample_size=20, overwrite=True)
    files["cluster_studio"] = p
    recs = df_pred.as_record_list(limit=5)
    chart = linker.visualisations.waterfall_chart(recs)
    p = out_dir / f"waterfall_{entity}_cdn.html"
    chart.save(str(p))                       # default: <script src=cdn.jsdelivr.net ...>
    files["waterfall_default"] = p
    p = out_dir / f"waterfall_{entity}_inline.html"
    chart.save(str(p), inline=True)          # bundled vega / vega-lite / vega-embed
    files["waterfall_inline"] = p
    p = out_dir / f"match_weights_{entity}.html"
    linker.visualisations.match_weights_chart().save(str(p), inline=True)
    files["match_weights_inline"] = p
    # eager fetches: src= / href= attributes and CSS @import; the "paths" JSON of CDN-mode charts
    eager = re.compile(r"""(?:src|href)\s*=\s*["'](https?://[^"']+)|@import\s+url\(["']?(https?://[^"')]+)|"""
                       r"""["'](https?://cdn\.jsdelivr\.net/npm/[^"'/]+@[^"']+)""")
    # the inlined Observable stdlib keeps a lazy require() resolver for cdn.jsdelivr.net (md``, SQLite, leaflet);
    # the dashboards only observe their named cells, so it is never called
    lazy = re.compile(r"https://cdn\.jsdelivr\.net/npm/(?=[\"'])")

    def scan(html: str) -> dict:
        return {"fetched_urls": sorted({u for m in eager.finditer(html) for u in m.groups() if u}),
                "lazy_require_base_present": bool(lazy.search(html))}

    report = {}
    for k, f in files.items():
        html = f.read_text(encoding="utf-8")
        report[k] = {"file": f.name, "bytes": len(html), **scan(html)}
        if report[k]["fetched_urls"] and k != "waterfall_default":
            # offline / GDPR-safe copy: drop the Google-Fonts <link> tags; all JS is inline already
            clean = re.sub(r"<link[^>]+https?://[^>]+>", "", html)
            cf = f.with_name(f.stem + "_offline.html")
            cf.write_text(clean, encoding="utf-8")
            report[k]["offline_copy"] = {"file": cf.name, **scan(clean)}
    return report


def reload_check(con, model_path: Path, table, entity, link_type, pred_tbl, args) -> bool:
    """Load the saved JSON into a fresh Linker (new DuckDBAPI on the same connection) and compare."""
    from splink import DuckDBAPI, Linker
    db2 = DuckDBAPI(connection=con)
    if link_type == "dedupe_only":
        sdfs = db2.register(f"in_{entity}_all", table_name=f"reload_{entity}_all")
    else:
        sdfs = [db2.register(f"in_{entity}_{s}", dataset_display_name=s) for s in SYSTEMS[entity]]
    # the trained model as YAML (what a Kontor config file would hold), loaded back as a plain dict
    import yaml
    yaml_path = model_path.with_suffix(".yaml")
    yaml_path.write_text(yaml.safe_dump(json.loads(model_path.read_text()), sort_keys=False, allow_unicode=True))
    linker2 = Linker(sdfs, yaml.safe_load(yaml_path.read_text()), log_level=logging.WARNING)
    df2 = linker2.inference.predict(threshold_match_probability=args.min_prob)
    diff = con.execute(f"""select count(*) from (
        (select unique_id_l, unique_id_r, round(match_weight, 6) from {pred_tbl}
         except select unique_id_l, unique_id_r, round(match_weight, 6) from {df2.physical_name})
        union all
        (select unique_id_l, unique_id_r, round(match_weight, 6) from {df2.physical_name}
         except select unique_id_l, unique_id_r, round(match_weight, 6) from {pred_tbl}))""").fetchall()[0][0]
    return diff == 0


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--scale", type=float, default=1.0)
    ap.add_argument("--link-type", default="link_and_dedupe", choices=["link_and_dedupe", "dedupe_only", "link_only"])
    ap.add_argument("--entity", default="both", choices=["customer", "supplier", "both"])
    ap.add_argument("--min-prob", type=float, default=0.01, help="predict() threshold (pairs kept for evaluation)")
    ap.add_argument("--u-pairs", type=float, default=2e6)
    ap.add_argument("--em-max-pairs", type=float, default=EM_MAX_PAIRS, help="0 = no sampling")
    ap.add_argument("--viz", action="store_true")
    ap.add_argument("--single-best", action="store_true", help="also cluster_using_single_best_links (slow, RAM)")
    ap.add_argument("--dump-errors", action="store_true")
    ap.add_argument("--error-threshold", type=float, default=0.8, help="clustering threshold for --dump-errors")
    ap.add_argument("--out", default=None)
    ap.add_argument("--variant", default="full", choices=list(VARIANTS))
    args = ap.parse_args()

    timer = Timer()
    out_dir = Path(args.out) if args.out else HERE / "out" / f"s{args.scale:g}_{args.link_type}_{args.variant}"
    out_dir.mkdir(parents=True, exist_ok=True)
    with timer("build_staging(cached)"):
        wh = build(args.scale)
    data_dir = HERE / ("data" if args.scale == 1.0 else f"data_s{args.scale:g}")
    con = duckdb.connect()          # in-memory working DB; the warehouse is attached read-only
    # DuckDB spills to '.tmp' in the *cwd* by default: keep it in the scratch folder and bounded
    con.execute(f"set temp_directory = '{HERE / '.duckdb_tmp'}'")
    con.execute("set max_temp_directory_size = '20GB'")
    con.execute(f"attach '{wh}' as wh (read_only)")
    load_truth(con, data_dir)
    entities = ["customer", "supplier"] if args.entity == "both" else [args.entity]
    results = {"scale": args.scale, "link_type": args.link_type, "variant": args.variant, "entities": {}}
    for e in entities:
        results["entities"][e] = run_entity(con, e, args.link_type, args, timer, out_dir)
    results["timings_s"] = timer.t
    results["max_rss_mb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)
    (out_dir / "metrics.json").write_text(json.dumps(results, indent=2, default=str))
    print(json.dumps(results, indent=2, default=str))


if __name__ == "__main__":
    main()
