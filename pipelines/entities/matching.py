"""Splink on the standardised input: train (only when needed), score pairs, cluster.

Splink works on the warehouse connection itself, in a scratch schema that is dropped afterwards,
so the standardised table is never copied. Records without a usable name are not matched: each
stays its own cluster and is listed for review.
"""
from __future__ import annotations

import json
import logging
import re
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb
import sqlglot
from sqlglot import exp

from pipelines.entities.spec import STANDARDISED, EntitySpec
from pipelines.core.errors import KontorError
from pipelines.core.sql import literal
from pipelines.core.warehouse import insert_rows

WORK = "_splink"
# Splink's own loggers are chatty; untrained parameters are reported in the model asset's metadata.
SPLINK_LOG_LEVEL = logging.ERROR

MODEL_DDL = """
create schema if not exists entities;
create table if not exists entities._models (
    entity varchar not null,
    version integer not null,
    trained_at timestamp not null,
    reason varchar not null,
    settings_hash varchar not null,
    fingerprint json not null,
    training_log json not null,      -- lambda, u sampling and EM sessions with their parameters
    model json not null,             -- Splink's model (settings with trained m and u)
    path varchar,
    primary key (entity, version)
);
"""


@dataclass
class TrainedModel:
    version: int
    model: dict[str, Any]
    trained_now: bool
    reason: str
    path: str | None
    training_log: dict[str, Any]


def _work(con: duckdb.DuckDBPyConnection, spec: EntitySpec) -> list[str]:
    """Views of the matchable records, one per system (Splink's link types want one table each)."""
    con.execute(f"drop schema if exists {WORK} cascade; create schema {WORK}")
    names = []
    for system in spec.systems:
        name = f"_kontor_in_{spec.name}_{system}"
        con.execute(f"""create or replace temp view {name} as select * from {spec.table('standardised')}
                        where source_system = '{system}' and {spec.matchable}""")
        names.append(name)
    return names


def _linker(con: duckdb.DuckDBPyConnection, spec: EntitySpec, settings: dict[str, Any] | str):
    """A Splink linker on the matchable records, and the registered input tables."""
    from splink import DuckDBAPI, Linker

    tables = _work(con, spec)
    db_api = DuckDBAPI(connection=con, output_schema=WORK)
    if spec.splink["link_type"] == "dedupe_only":
        con.execute(f"create or replace temp view _kontor_in_{spec.name}_all as "
                    + " union all ".join(f"select * from {t}" for t in tables))
        sdfs = [db_api.register(f"_kontor_in_{spec.name}_all")]
    else:
        sdfs = [db_api.register(t, dataset_display_name=system)
                for t, system in zip(tables, spec.systems)]
    return Linker(sdfs, settings, log_level=SPLINK_LOG_LEVEL), sdfs


def cleanup(con: duckdb.DuckDBPyConnection) -> None:
    con.execute(f"drop schema if exists {WORK} cascade")
    for (name,) in con.execute("select view_name from duckdb_views() where temporary and view_name like '_kontor_in_%'").fetchall():
        con.execute(f"drop view if exists {name}")


def fingerprint(con: duckdb.DuckDBPyConnection, spec: EntitySpec) -> dict[str, Any]:
    """What the model was trained on: records per system and the share of empty keys, so drift
    (a new system extract, a column that stopped being filled) triggers retraining."""
    keys = spec.fingerprint_keys
    rows = con.execute(f"""
        select source_system, count(*), {', '.join(f'avg(({k} is null)::int)' for k in keys)}
        from {spec.table('standardised')} group by 1 order by 1
    """).fetchall()
    return {r[0]: {"records": r[1], **{k: round(float(v), 4) for k, v in zip(keys, r[2:])}} for r in rows}


def drift(previous: dict[str, Any], current: dict[str, Any], limits: dict[str, float]) -> str | None:
    """Why the input has drifted since training, or None."""
    for system in sorted(set(previous) | set(current)):
        before, now = previous.get(system), current.get(system)
        if before is None or now is None:
            return f"system {system} {'appeared' if before is None else 'disappeared'}"
        change = abs(now["records"] - before["records"]) / max(before["records"], 1)
        if change > limits["records_change"]:
            return f"{system}: records {before['records']} -> {now['records']} ({change:.0%} change)"
        for key, value in now.items():
            if key != "records" and abs(value - before.get(key, value)) > limits["null_share_change"]:
                return f"{system}: empty {key} {before[key]:.0%} -> {value:.0%}"
    return None


def latest_model(con: duckdb.DuckDBPyConnection, entity: str) -> tuple | None:
    con.execute(MODEL_DDL)
    rows = con.execute("""select version, settings_hash, fingerprint, model, path, training_log from entities._models
                          where entity = ? order by version desc limit 1""", [entity]).fetchall()
    return rows[0] if rows else None


def ensure_model(con: duckdb.DuckDBPyConnection, spec: EntitySpec, out_dir: Path, retrain: bool = False) -> TrainedModel:
    """The current trained model; trains a new version when asked, when there is none, when the
    settings changed or when the input drifted. Each version is kept (table and JSON file)."""
    latest = latest_model(con, spec.name)
    current = fingerprint(con, spec)
    reason = None
    if retrain:
        reason = "retraining requested"
    elif latest is None:
        reason = "no trained model yet"
    elif latest[1] != spec.settings_hash:
        reason = "settings changed"
    else:
        reason = drift(json.loads(latest[2]), current, spec.training["drift"])
        if reason:
            reason = f"input drifted: {reason}"
    if reason is None:
        return TrainedModel(latest[0], json.loads(latest[3]), False, "model is current", latest[4], json.loads(latest[5]))
    model, log = train(con, spec)
    version = (latest[0] if latest else 0) + 1
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / f"model_v{version}.json"
    path.write_text(json.dumps(model, indent=2), encoding="utf-8")
    con.execute("insert into entities._models values (?, ?, now(), ?, ?, ?, ?, ?, ?)",
                [spec.name, version, reason, spec.settings_hash, json.dumps(current), json.dumps(log),
                 json.dumps(model), str(path)])
    return TrainedModel(version, model, True, reason, str(path), log)


# Fewer pairs than this in an EM block and EM estimates nothing but noise (Splink's own floor for
# the pairs per level when sampling u is 100); the types' priors stand in instead.
MIN_EM_PAIRS = 100
# Splink's m for a level it never observed; an m below it is an EM artefact, not evidence.
M_FLOOR = 1e-6


class TrainingError(KontorError):
    """A model that cannot be trained: names the entity file and the fix."""


def train(con: duckdb.DuckDBPyConnection, spec: EntitySpec) -> tuple[dict[str, Any], dict[str, Any]]:
    """Unsupervised training: λ from deterministic rules, u by random sampling, m by EM.

    EM needs duplicates to learn from. On small or degenerate data (a few hundred records, no
    duplicates at all, a block without pairs) it drives λ to 0 and m probabilities below what a
    float holds, and Splink refuses the model. So each step is guarded: a λ estimate of 0 or 1
    keeps the settings' λ; an EM session that fails is dropped (the linker is rebuilt from the
    model as it was before it); for an entity declared by attribute types, a block with fewer
    than ``MIN_EM_PAIRS`` pairs is not used, and a comparison EM could not estimate, or estimated
    against its type (agreement weighing against a match, an m below ``M_FLOOR``), takes its m
    from the type's priors (``types.AttributeType.priors``). What happened is in the training log.
    A model that still cannot be used raises :class:`TrainingError`."""
    from splink import SettingsCreator

    t = spec.training
    log: dict[str, Any] = {"sessions": []}
    started = time.perf_counter()
    linker, _ = _linker(con, spec, spec.splink)
    try:
        model = linker.misc.save_model_to_json()
        records = con.execute(f"select count(*) from {spec.table('standardised')} where {spec.matchable}").fetchall()[0][0]
        if records < 2:
            log["untrained"] = f"{records} matchable record(s): no pair to learn from"
        elif t["deterministic_rules"]:
            try:
                linker.training.estimate_probability_two_random_records_match(t["deterministic_rules"], recall=t["recall"])
                estimated = linker.misc.save_model_to_json()["probability_two_random_records_match"]
                problem = None if 0 < estimated < 1 else f"the deterministic rules gave {estimated}"
            except ValueError as exc:       # Splink: more deterministic matches than the recall allows
                problem = str(exc).splitlines()[0]
            if problem:
                log["probability_two_random_records_match_kept"] = problem
                linker, _ = _linker(con, spec, model)
            else:
                model = linker.misc.save_model_to_json()
        log["probability_two_random_records_match"] = model["probability_two_random_records_match"]
        if records >= 2:
            linker.training.estimate_u_using_random_sampling(max_pairs=t["u_max_pairs"], seed=t["seed"],
                                                             min_count_per_level=t["u_min_count_per_level"])
            log["u_sampling"] = {"max_pairs": t["u_max_pairs"], "seed": t["seed"],
                                 "min_count_per_level": t["u_min_count_per_level"]}
            model = linker.misc.save_model_to_json()
        for rule in t["em_blocking_rules"] if records >= 2 else []:
            session: dict[str, Any] = {"blocking_rule": rule, "max_pairs": t["em_max_pairs"]}
            log["sessions"].append(session)
            if spec.declared is not None:
                session["pairs"] = _count_pairs(con, rule, spec)
                if session["pairs"] < MIN_EM_PAIRS:
                    session["skipped"] = f"{session['pairs']} pairs, fewer than {MIN_EM_PAIRS}"
                    continue
            try:
                linker.training.estimate_parameters_using_expectation_maximisation(rule, max_pairs=t["em_max_pairs"])
            except Exception as exc:  # Splink: no pairs (EMTrainingException), λ or m out of range (ValueError)
                session["failed"] = f"{type(exc).__name__}: {str(exc).splitlines()[0]}"
                linker, _ = _linker(con, spec, model)     # the session left the linker half-updated
                continue
            model = linker.misc.save_model_to_json()
    except TrainingError:
        raise
    except Exception as exc:  # anything else Splink raises: the file and what to change, no traceback
        raise TrainingError(f"{spec.file}: training the {spec.name} model failed: {str(exc).splitlines()[0]}; "
                            f"fix: {_TRAINING_FIX}") from exc
    finally:
        cleanup(con)
    if spec.declared is not None:
        log["priors"] = apply_priors(model, spec)
    try:
        SettingsCreator.from_path_or_dict(model).get_settings("duckdb")
    except Exception as exc:  # Splink's validation of m and u
        raise TrainingError(f"{spec.file}: the trained {spec.name} model is unusable: {str(exc).splitlines()[0]}; "
                            f"fix: {_TRAINING_FIX}") from exc
    log["seconds"] = round(time.perf_counter() - started, 2)
    log["m_u"] = {c["output_column_name"]: [
        {"label": lvl.get("label_for_charts"), "m": lvl.get("m_probability"), "u": lvl.get("u_probability")}
        for lvl in c["comparison_levels"] if not lvl.get("is_null_level")] for c in model["comparisons"]}
    return model, log


_TRAINING_FIX = ("check the comparison levels and blocking rules of 'splink:' against this error; where the data "
                 "has few or no duplicates, give each comparison level its m_probability there (attribute types "
                 "bring theirs), or change 'training:' em_blocking_rules to blocks with a few hundred pairs")


def _count_pairs(con: duckdb.DuckDBPyConnection, rule: str, spec: EntitySpec) -> int:
    """Pairs of matchable records an EM blocking rule (SQL on ``l.``/``r.``) yields."""
    cross = " and l.source_system <> r.source_system" if spec.splink["link_type"] == "link_only" else ""
    records = f"(select * from {spec.table('standardised')} where {spec.matchable})"
    return con.execute(f"select count(*) from {records} l join {records} r on ({rule}) "
                       f"and l.unique_id < r.unique_id{cross}").fetchall()[0][0]


def apply_priors(model: dict[str, Any], spec: EntitySpec) -> dict[str, str]:
    """Give a declared entity's comparisons that EM could not estimate, or estimated against
    their type, the type's prior m (in place); returns comparison -> why. A comparison's estimate
    is kept when its first agreement level was trained with m above u (agreement is evidence of
    a match) and no level's m is below ``M_FLOOR``; levels EM never saw take the prior alone."""
    declared = {a.name: a for a in spec.declared or []}
    why: dict[str, str] = {}
    for comparison in model["comparisons"]:
        attr = declared.get(comparison["output_column_name"])
        levels = [lvl for lvl in comparison["comparison_levels"] if not lvl.get("is_null_level")]
        if attr is None:
            continue
        priors = attr.kind.priors(attr)
        if [lvl.get("label_for_charts") for lvl in levels] != list(priors):
            continue            # levels written in 'splink:', not the type's: no priors to give
        first = levels[0]
        m, u = first.get("m_probability"), first.get("u_probability")
        reason = None
        if not isinstance(m, (int, float)):
            reason = f"{first['label_for_charts']} not trained"
        elif not isinstance(u, (int, float)) or m <= u:
            reason = f"EM gave agreement ({first['label_for_charts']}) m {m:.3g} <= u {u if u is None else f'{u:.3g}'}"
        else:
            low = [lvl for lvl in levels if isinstance(lvl.get("m_probability"), (int, float))
                   and lvl["m_probability"] < M_FLOOR and not lvl.get("fix_m_probability")]
            if low:
                reason = f"EM gave {low[0]['label_for_charts']} m {low[0]['m_probability']:.3g}"
        for lvl in levels:
            if lvl.get("fix_m_probability"):
                continue
            if reason or not isinstance(lvl.get("m_probability"), (int, float)):
                lvl["m_probability"] = priors[lvl["label_for_charts"]]
                if not reason:
                    why.setdefault(comparison["output_column_name"], f"{lvl['label_for_charts']} not trained: prior")
        if reason:
            why[comparison["output_column_name"]] = f"{reason}: the type's priors"
    return why


def predict(con: duckdb.DuckDBPyConnection, spec: EntitySpec, model: dict[str, Any],
            explain_dir: Path | None = None) -> int:
    """Score candidate pairs (≥ the review threshold) into ``entities.<entity>_pairs``; with
    ``explain_dir``, also write Splink's charts and dashboards there (see :func:`explain`)."""
    linker, _ = _linker(con, spec, model)
    try:
        df = linker.inference.predict(threshold_match_probability=spec.thresholds["review_probability"])
        if explain_dir is not None:
            explain(linker, df, spec, explain_dir)
        gammas = [f"gamma_{c['output_column_name']}" for c in model["comparisons"]]
        con.execute(f"""
            create or replace table {spec.table('pairs')} as
            select least(unique_id_l, unique_id_r) as unique_id_l, greatest(unique_id_l, unique_id_r) as unique_id_r,
                   match_probability, match_weight,
                   case when unique_id_l < unique_id_r then source_system_l else source_system_r end as system_l,
                   case when unique_id_l < unique_id_r then source_system_r else source_system_l end as system_r,
                   {', '.join(gammas)}, match_key
            from {df.physical_name}
            order by match_probability desc, unique_id_l, unique_id_r
        """)
    finally:
        cleanup(con)
    return con.execute(f"select count(*) from {spec.table('pairs')}").fetchall()[0][0]


def _enforce_cannot_link(con: duckdb.DuckDBPyConnection) -> None:
    """Records kept apart (by a steward or a ``distinct_when`` rule) can still meet through a third
    record. Clusters where that happened are rebuilt edge by edge, strongest first, never joining
    two groups that hold a pair kept apart. A record whose matches reach two groups kept apart (a
    name cut before its legal form, matching both the GmbH and the GmbH & Co. KG) could belong to
    either: it stays on its own, and its pairs go to review. All such clusters in one pass."""
    bad = f"""select distinct a.cluster_id from {WORK}.cannot c
              join _clusters_raw a on a.unique_id = c.unique_id_l join _clusters_raw b on b.unique_id = c.unique_id_r
              where a.cluster_id = b.cluster_id"""
    members = con.execute(f"select cluster_id, unique_id from _clusters_raw where cluster_id in ({bad}) order by 2").fetchall()
    if not members:
        return
    edges = con.execute(f"""select e.unique_id_l, e.unique_id_r from {WORK}.edges e
                            join _clusters_raw a on a.unique_id = e.unique_id_l and a.cluster_id in ({bad})
                            join _clusters_raw b on b.unique_id = e.unique_id_r and b.cluster_id = a.cluster_id
                            order by e.match_probability desc, 1, 2""").fetchall()
    cluster_of = dict((m, c) for c, m in members)
    apart: dict[str, set[str]] = {}
    for a, b in con.execute(f"select unique_id_l, unique_id_r from {WORK}.cannot").fetchall():
        if a in cluster_of and b in cluster_of:
            apart.setdefault(a, set()).add(b)
            apart.setdefault(b, set()).add(a)
    steward_linked = {r for pair in con.execute(f"select unique_id_l, unique_id_r from {WORK}.must").fetchall() for r in pair}
    root = _join_apart(cluster_of, edges, apart)
    # bridges: records with matches into two groups that are kept apart
    reach: dict[str, set[str]] = {}
    for a, b in edges:
        reach.setdefault(a, set()).add(root(b))
        reach.setdefault(b, set()).add(root(a))
    groups: dict[str, set[str]] = {}
    for m in cluster_of:
        groups.setdefault(root(m), set()).add(m)
    # a record is ambiguous when it matches into a group it has no rule against besides its own
    bridges = {m for m, roots in reach.items() if m not in steward_linked
               and any(g != root(m) and not apart.get(m, set()) & groups[g] for g in roots)}
    if bridges:
        root = _join_apart(cluster_of, [(a, b) for a, b in edges if a not in bridges and b not in bridges], apart)
        insert_rows(con, "_bridges", [(b,) for b in sorted(bridges)])
    con.execute("create or replace temp table _reclustered (cluster_id varchar, unique_id varchar)")
    insert_rows(con, "_reclustered", [(f"{cluster_of[m]}/{root(m)}", m) for m in cluster_of])
    con.execute("""update _clusters_raw set cluster_id = r.cluster_id from _reclustered r
                   where _clusters_raw.unique_id = r.unique_id""")
    con.execute("drop table _reclustered")


def _join_apart(nodes: dict[str, str], edges: list[tuple[str, str]], apart: dict[str, set[str]]):
    """Union-find over ``edges`` in their order, refusing a join that would put a pair of
    ``apart`` in one group; returns the find function."""
    parent = {m: m for m in nodes}
    group = {m: {m} for m in nodes}

    def root(x: str) -> str:
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    for a, b in edges:
        ra, rb = root(a), root(b)
        if ra == rb:
            continue
        small, big = (ra, rb) if len(group[ra]) <= len(group[rb]) else (rb, ra)
        if any(apart.get(x, set()) & group[big] for x in group[small]):
            continue
        parent[small] = big
        group[big] |= group.pop(small)
    return root


def _on_pair(condition: str, left: str = "l", right: str = "r", columns: tuple[str, ...] = STANDARDISED) -> str:
    """A ``distinct_when`` condition on the records aliased ``left`` and ``right``: ``x_l`` becomes
    ``<left>.x``, ``r.x`` becomes ``<right>.x``."""
    alias = {"l": left, "r": right}

    def rename(node: exp.Expression) -> exp.Expression:
        if isinstance(node, exp.Column):
            if not node.table and node.name[-2:] in ("_l", "_r") and node.name[:-2] in columns:
                return exp.column(node.name[:-2], table=alias[node.name[-1]])
            if node.table in alias:
                return exp.column(node.name, table=alias[node.table])
        return node

    tree = sqlglot.parse_one(condition, read="duckdb").transform(rename)
    return tree.sql(dialect="duckdb")


def distinct_sql(spec: EntitySpec, left: str = "l", right: str = "r") -> tuple[str, str]:
    """(the names of the ``distinct_when`` rules that fire, as a list; whether one that fires asks
    for review) as SQL on two standardised records aliased ``left`` and ``right``."""
    if not spec.distinct_when:
        return "[]::varchar[]", "false"
    fired = ", ".join(f"case when coalesce({_on_pair(r.sql, left, right, spec.columns)}, false) then {literal(r.name)} end"
                      for r in spec.distinct_when)
    listed = " or ".join(f"coalesce(({_on_pair(r.sql, left, right, spec.columns)}) and ({_on_pair(r.review_when, left, right, spec.columns)}), false)"
                         for r in spec.distinct_when)
    return f"list_filter([{fired}], lambda x: x is not null)", listed


def distinct_flags_sql(spec: EntitySpec, left: str = "l", right: str = "r") -> tuple[list[str], str, str]:
    """:func:`distinct_sql` in two stages, so that each rule's condition is evaluated once per pair
    (``distinct_sql`` names every condition twice: in the rules that fire and in whether one asks
    for review). Returns (the select list of flags ``_f<i>`` (the rule fires) and ``_w<i>`` (it
    fires and its ``review_when`` holds), on the records aliased ``left`` and ``right``; the rules
    that fire and whether one asks for review, as SQL on those flags)."""
    if not spec.distinct_when:
        return [], "[]::varchar[]", "false"
    flags = []
    for i, r in enumerate(spec.distinct_when):
        flags.append(f"coalesce({_on_pair(r.sql, left, right, spec.columns)}, false) as _f{i}")
        flags.append(f"coalesce({_on_pair(r.review_when, left, right, spec.columns)}, false) as _w{i}")
    fired = ", ".join(f"case when _f{i} then {literal(r.name)} end" for i, r in enumerate(spec.distinct_when))
    # coalesce(a and b, false) = coalesce(a, false) and coalesce(b, false)
    listed = " or ".join(f"(_f{i} and _w{i})" for i in range(len(spec.distinct_when)))
    return flags, f"list_filter([{fired}], lambda x: x is not null)", listed


def _rule_conflicts(con: duckdb.DuckDBPyConnection, spec: EntitySpec, must_link: list[tuple[str, str]]) -> int:
    """Pairs inside one cluster on which a ``distinct_when`` rule fires (``{WORK}.rule_pairs``:
    unique_id_l, unique_id_r, rules, listed), added to the cannot-link pairs. Every pair of a
    cluster is checked, not only the scored edges, so no chain of matches can join two records a
    rule keeps apart. Records a steward merged are exempt: a steward's decision wins over a rule."""
    con.execute(f"create or replace table {WORK}.rule_pairs (unique_id_l varchar, unique_id_r varchar, "
                "rules varchar[], listed boolean)")
    if not spec.distinct_when:
        return 0
    flags, fired, listed = distinct_flags_sql(spec)
    con.execute(f"""
        insert into {WORK}.rule_pairs
        with multi as (select cluster_id from _clusters_raw group by 1 having count(*) > 1),
        m as (select c.cluster_id, s.* from _clusters_raw c semi join multi using (cluster_id)
              join {spec.table('standardised')} s using (unique_id)),
        f as materialized (
            select l.unique_id as unique_id_l, r.unique_id as unique_id_r, {', '.join(flags)}
            from m l join m r on l.cluster_id = r.cluster_id and l.unique_id < r.unique_id
        )
        select * from (select unique_id_l, unique_id_r, {fired} as rules, {listed} from f) where len(rules) > 0""")
    if must_link:      # a steward's merge group (must-link pairs, transitively) is never split by a rule
        group = _groups(must_link)
        exempt = [(a, b) for a, b in con.execute(f"select unique_id_l, unique_id_r from {WORK}.rule_pairs").fetchall()
                  if a in group and group.get(a) == group.get(b)]
        if exempt:
            con.execute("create or replace temp table _exempt (a varchar, b varchar)")
            insert_rows(con, "_exempt", exempt)
            con.execute(f"delete from {WORK}.rule_pairs p using _exempt e where p.unique_id_l = e.a and p.unique_id_r = e.b")
            con.execute("drop table _exempt")
    con.execute(f"insert into {WORK}.cannot select unique_id_l, unique_id_r from {WORK}.rule_pairs")
    return con.execute(f"select count(*) from {WORK}.rule_pairs").fetchall()[0][0]


def _groups(pairs: list[tuple[str, str]]) -> dict[str, str]:
    """Record -> representative of its group, for pairs joined transitively."""
    parent: dict[str, str] = {}

    def root(x: str) -> str:
        parent.setdefault(x, x)
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    for a, b in pairs:
        parent[root(a)] = root(b)
    return {x: root(x) for x in list(parent)}


def connected_components(con: duckdb.DuckDBPyConnection, spec: EntitySpec, must_link: list[tuple[str, str]] = (),
                         cannot_link: list[tuple[str, str]] = ()) -> str:
    """Cluster every standardised record (``_clusters_raw``: unique_id, cluster_id) from the pairs
    at or above the match threshold, plus must-link pairs, minus cannot-link pairs and pairs a
    ``distinct_when`` rule keeps apart. ``_kept_apart`` lists the edges at or above the match
    threshold that ended up between clusters because of a rule, ``_bridges`` the records left on
    their own because they match into two groups kept apart (both for the review queue)."""
    from splink import DuckDBAPI
    from splink.clustering import cluster_pairwise_predictions_at_threshold

    threshold = spec.thresholds["match_probability"]
    con.execute(f"drop schema if exists {WORK} cascade; create schema {WORK}")
    con.execute(f"create table {WORK}.nodes as select unique_id from {spec.table('standardised')}")
    con.execute(f"""create table {WORK}.edges as
                    select unique_id_l, unique_id_r, match_probability from {spec.table('pairs')}
                    where match_probability >= {threshold}""")
    con.execute(f"create table {WORK}.must (unique_id_l varchar, unique_id_r varchar)")
    con.execute(f"create table {WORK}.cannot (unique_id_l varchar, unique_id_r varchar)")
    if must_link:
        insert_rows(con, f"{WORK}.must", [sorted(p) for p in must_link])
        con.execute(f"insert into {WORK}.edges select unique_id_l, unique_id_r, 1.0 from {WORK}.must")
    if cannot_link:
        insert_rows(con, f"{WORK}.cannot", [sorted(p) for p in cannot_link])
        con.execute(f"""delete from {WORK}.edges e using {WORK}.cannot c
                        where e.unique_id_l = c.unique_id_l and e.unique_id_r = c.unique_id_r""")
    db_api = DuckDBAPI(connection=con, output_schema=WORK)
    try:
        clusters = cluster_pairwise_predictions_at_threshold(
            f"{WORK}.nodes", f"{WORK}.edges", db_api, node_id_column_name="unique_id",
            edge_id_column_name_left="unique_id_l", edge_id_column_name_right="unique_id_r",
            threshold_match_probability=0.0)
        con.execute(f"create or replace temp table _clusters_raw as select unique_id, cluster_id::varchar as cluster_id "
                    f"from {clusters.physical_name}")
        con.execute("create or replace temp table _bridges (unique_id varchar)")
        ruled = _rule_conflicts(con, spec, list(must_link))
        if cannot_link or ruled:
            _enforce_cannot_link(con)
        # edges Splink would have merged that a rule kept apart, directly or through a third record
        con.execute(f"""create or replace temp table _kept_apart as
            select e.unique_id_l, e.unique_id_r, e.match_probability, coalesce(p.rules, []) as rules,
                   coalesce(p.listed, true) as listed
            from {WORK}.edges e join _clusters_raw a on a.unique_id = e.unique_id_l
            join _clusters_raw b on b.unique_id = e.unique_id_r
            left join {WORK}.rule_pairs p on p.unique_id_l = e.unique_id_l and p.unique_id_r = e.unique_id_r
            where a.cluster_id <> b.cluster_id and {'true' if ruled else 'false'}""")
    finally:
        cleanup(con)
    return "_clusters_raw"


_EXTERNAL_LINK = re.compile(r"<link[^>]+https?://[^>]*>\s*", re.IGNORECASE)


def _offline(path: Path) -> None:
    """Splink's dashboards inline their scripts but link Google Fonts: opening them would send the
    reader's address to Google (GDPR) and fail on a closed network. Drop those links."""
    path.write_text(_EXTERNAL_LINK.sub("", path.read_text(encoding="utf-8")), encoding="utf-8")


def explain(linker, predictions, spec: EntitySpec, out_dir: Path) -> dict[str, Path]:
    """Match-weight chart, waterfall of the closest calls, comparison viewer and cluster studio,
    as self-contained HTML (no CDN, no web fonts) under ``out_dir``."""
    out_dir.mkdir(parents=True, exist_ok=True)
    files = {name: out_dir / f"{name}.html" for name in
             ("match_weights", "waterfall", "comparison_viewer", "cluster_studio")}
    linker.visualisations.match_weights_chart().save(str(files["match_weights"]), inline=True)
    hi = spec.thresholds["match_probability"]
    # the waterfall explains the pairs a steward has to look at: those nearest the match threshold
    closest = predictions.as_duckdbpyrelation().order(f"abs(match_probability - {hi})").limit(10)
    records = [dict(zip(closest.columns, row)) for row in closest.fetchall()]
    if records:
        linker.visualisations.waterfall_chart(records, filter_nulls=False).save(str(files["waterfall"]), inline=True)
    else:
        files["waterfall"].write_text("<p>No scored pairs.</p>", encoding="utf-8")
    linker.visualisations.comparison_viewer_dashboard(predictions, str(files["comparison_viewer"]), overwrite=True,
                                                      num_example_rows=2)
    clusters = linker.clustering.cluster_pairwise_predictions_at_threshold(predictions, threshold_match_probability=hi)
    linker.visualisations.cluster_studio_dashboard(predictions, clusters, str(files["cluster_studio"]),
                                                   sampling_method="by_cluster_size", sample_size=20, overwrite=True)
    for name in ("comparison_viewer", "cluster_studio"):
        _offline(files[name])
    return files
