"""Splink on the standardised input: train (only when needed), score pairs, cluster.

Splink works on the warehouse connection itself, in a scratch schema that is dropped afterwards,
so the standardised table is never copied. Records without a usable name are not matched: each
stays its own cluster and is listed for review.
"""
from __future__ import annotations

import functools
import json
import logging
import re
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import sqlglot
from sqlglot import exp

from pipelines.engines import catalog
from pipelines.engines.connection import Connection
from pipelines.entities.spec import STANDARDISED, EntitySpec
from pipelines.core.errors import KontorError
from pipelines.core.sql import render, table_expr, template, verbatim
from pipelines.core.warehouse import insert_rows

WORK = "_splink"
# the scored pairs kept for the cluster studio, in the studio's schema (``_studio_schema``)
STUDIO_PAIRS = "pairs"
# Splink's own loggers are chatty; untrained parameters are reported in the model asset's metadata.
SPLINK_LOG_LEVEL = logging.ERROR
# Splink's settings validation only logs warnings, which SPLINK_LOG_LEVEL drops; it parses every
# comparison and blocking rule again for each linker (three per entity and run: train, predict,
# cluster studio), about a third of a CPU second each. Off: it changes nothing Kontor shows.
SPLINK_VALIDATE_SETTINGS = False

MODEL_DDL = template(__file__, "models_ddl")


def _sql(name: str, **names: str | exp.Expression | list) -> str:
    """The template ``sql/<name>.sql`` with its ``:names`` filled (``render``); a name ending in a
    table of an entity (``schema.table``) is given as ``table_expr``."""
    return render(template(__file__, name), **names)


def _where(condition: str) -> exp.Expression:
    """A condition the entity file or the spec writes as SQL text (``spec.matchable``, a blocking rule)."""
    return exp.paren(sqlglot.parse_one(condition, read="duckdb"))


def _work_table(name: str) -> exp.Table:
    return table_expr(f"{WORK}.{name}")


@dataclass
class TrainedModel:
    version: int
    model: dict[str, Any]
    trained_now: bool
    reason: str
    path: str | None
    training_log: dict[str, Any]


def _work(con: Connection, spec: EntitySpec) -> list[str]:
    """Views of the matchable records, one per system (Splink's link types want one table each)."""
    con.execute(_sql("drop_schema", work=WORK))
    con.execute(_sql("create_schema", work=WORK))
    names = []
    for system in spec.systems:
        name = "_kontor_in_" + spec.name + "_" + system
        con.execute(_sql("input_view", view=name, standardised=table_expr(spec.table("standardised")),
                         system=exp.Literal.string(system), matchable=_where(spec.matchable)))
        names.append(name)
    return names


def _linker(con: Connection, spec: EntitySpec, settings: dict[str, Any] | str, splink: Any, work: str = WORK):
    """A Splink linker on the matchable records, and the registered input tables; ``splink``:
    Splink's backend on ``con`` (``pipelines.engines.splink_backend.DuckDBSplink``), its tables in
    the schema ``work``."""
    from splink import Linker

    tables = _work(con, spec)
    db_api = splink.api(work)
    if spec.splink["link_type"] == "dedupe_only":
        everything = "_kontor_in_" + spec.name + "_all"
        union = exp.union(*[exp.select("*").from_(exp.to_identifier(t, quoted=True)) for t in tables], distinct=False) \
            if len(tables) > 1 else exp.select("*").from_(exp.to_identifier(tables[0], quoted=True))
        con.execute(exp.Create(this=exp.to_identifier(everything, quoted=True), kind="VIEW", replace=True,
                               expression=union, properties=exp.Properties(expressions=[exp.TemporaryProperty()]))
                    .sql("duckdb"))
        sdfs = [db_api.register(everything)]
    else:
        sdfs = [db_api.register(t, dataset_display_name=system)
                for t, system in zip(tables, spec.systems)]
    return Linker(sdfs, settings, log_level=SPLINK_LOG_LEVEL, validate_settings=SPLINK_VALIDATE_SETTINGS), sdfs


def cleanup(con: Connection) -> None:
    con.execute(_sql("drop_schema", work=WORK))
    for name in catalog.temp_views(con, "_kontor_in_%"):     # Splink's own input views
        con.execute(_sql("drop_view", view=name))


def fingerprint(con: Connection, spec: EntitySpec) -> dict[str, Any]:
    """What the model was trained on: records per system and the share of empty keys, so drift
    (a new system extract, a column that stopped being filled) triggers retraining."""
    keys = spec.fingerprint_keys
    shares = [exp.Avg(this=exp.cast(exp.paren(exp.column(k).is_(exp.null())), "int")) for k in keys]
    rows = con.execute(_sql("fingerprint", null_shares=shares, standardised=table_expr(spec.table("standardised")))).fetchall()
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


def latest_model(con: Connection, entity: str) -> tuple | None:
    con.execute(MODEL_DDL)
    rows = con.execute(template(__file__, "latest_model"), [entity]).fetchall()
    return rows[0] if rows else None


def ensure_model(con: Connection, spec: EntitySpec, out_dir: Path, splink: Any, retrain: bool = False,
                 on: Any = None) -> TrainedModel:
    """The current trained model; trains a new version when asked, when there is none, when the
    settings changed or when the input drifted (with Splink's backend ``splink``, on the engine
    ``on`` names, see :func:`train`).
    Each version is kept (table and JSON file) in the warehouse ``con``."""
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
    model, log = train(con, spec, splink, on)
    version = (latest[0] if latest else 0) + 1
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / f"model_v{version}.json"
    path.write_text(json.dumps(model, indent=2), encoding="utf-8")
    con.execute(template(__file__, "model_insert"),
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


class OnDuckDB:
    """Where :func:`train` runs: the warehouse connection (the default), with Splink's DuckDBAPI.
    Another engine offers the same five calls (``entities/spark_train.py``: ``OnSpark``); the
    models they return are in DuckDB's dialect, the one the warehouse keeps."""

    name = "duckdb"

    def __init__(self, con: Connection, spec: EntitySpec):
        self.con, self.spec = con, spec

    def linker(self, splink: Any, settings: dict[str, Any]):
        """A Splink linker on the matchable records with ``settings`` (DuckDB's dialect), on
        Splink's backend ``splink``."""
        return _linker(self.con, self.spec, settings, splink)[0]

    def model(self, linker) -> dict[str, Any]:
        """The linker's settings and parameters, in DuckDB's dialect."""
        return linker.misc.save_model_to_json()

    def rule(self, rule: str) -> str:
        """A training rule (DuckDB's dialect) as the linker reads it."""
        return rule

    def rows(self, sql: str) -> list[tuple]:
        return self.con.execute(sql).fetchall()

    def cleanup(self) -> None:
        cleanup(self.con)


def train(con: Connection, spec: EntitySpec, splink: Any, on: Any = None) -> tuple[dict[str, Any], dict[str, Any]]:
    """Unsupervised training: λ from deterministic rules, u by random sampling, m by EM; on the
    warehouse (``con``) or on the engine ``on`` names (:class:`OnDuckDB` by default), with the
    linkers on Splink's backend ``splink`` (``pipelines.engines.splink_backend``: the engine's).

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

    on = on or OnDuckDB(con, spec)
    t = spec.training
    log: dict[str, Any] = {"engine": on.name, "sessions": []}
    started = time.perf_counter()
    linker = on.linker(splink, spec.splink)
    try:
        model = on.model(linker)
        records = on.rows(_sql("count_matchable", standardised=table_expr(spec.table("standardised")),
                                  matchable=_where(spec.matchable)))[0][0]
        if records < 2:
            log["untrained"] = f"{records} matchable record(s): no pair to learn from"
        elif t["deterministic_rules"]:
            try:
                linker.training.estimate_probability_two_random_records_match([on.rule(r) for r in t["deterministic_rules"]],
                                                                              recall=t["recall"])
                estimated = on.model(linker)["probability_two_random_records_match"]
                problem = None if 0 < estimated < 1 else f"the deterministic rules gave {estimated}"
            except ValueError as exc:       # Splink: more deterministic matches than the recall allows
                problem = str(exc).splitlines()[0]
            if problem:
                log["probability_two_random_records_match_kept"] = problem
                linker = on.linker(splink, model)
            else:
                model = on.model(linker)
        log["probability_two_random_records_match"] = model["probability_two_random_records_match"]
        if records >= 2:
            linker.training.estimate_u_using_random_sampling(max_pairs=t["u_max_pairs"], seed=t["seed"],
                                                             min_count_per_level=t["u_min_count_per_level"])
            log["u_sampling"] = {"max_pairs": t["u_max_pairs"], "seed": t["seed"],
                                 "min_count_per_level": t["u_min_count_per_level"]}
            model = on.model(linker)
        for rule in t["em_blocking_rules"] if records >= 2 else []:
            session: dict[str, Any] = {"blocking_rule": rule, "max_pairs": t["em_max_pairs"]}
            log["sessions"].append(session)
            if spec.declared is not None:
                session["pairs"] = _count_pairs(on, rule, spec)
                if session["pairs"] < MIN_EM_PAIRS:
                    session["skipped"] = f"{session['pairs']} pairs, fewer than {MIN_EM_PAIRS}"
                    continue
            try:
                linker.training.estimate_parameters_using_expectation_maximisation(on.rule(rule), max_pairs=t["em_max_pairs"])
            except Exception as exc:  # Splink: no pairs (EMTrainingException), λ or m out of range (ValueError)
                session["failed"] = f"{type(exc).__name__}: {str(exc).splitlines()[0]}"
                linker = on.linker(splink, model)     # the session left the linker half-updated
                continue
            model = on.model(linker)
    except TrainingError:
        raise
    except Exception as exc:  # anything else Splink raises: the file and what to change, no traceback
        raise TrainingError(f"{spec.file}: training the {spec.name} model failed: {str(exc).splitlines()[0]}; "
                            f"fix: {_TRAINING_FIX}") from exc
    finally:
        on.cleanup()
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


def _count_pairs(on: OnDuckDB, rule: str, spec: EntitySpec) -> int:
    """Pairs of matchable records an EM blocking rule (SQL on ``l.``/``r.``) yields."""
    cross = exp.column("source_system", table="l").neq(exp.column("source_system", table="r")) \
        if spec.splink["link_type"] == "link_only" else exp.true()
    return on.rows(_sql("em_block_pairs", standardised=table_expr(spec.table("standardised")),
                        matchable=_where(spec.matchable), rule=_where(rule), cross_systems=cross))[0][0]


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


def predict(con: Connection, spec: EntitySpec, model: dict[str, Any], splink: Any,
            explain_dir: Path | None = None) -> int:
    """Score candidate pairs (≥ the review threshold) into ``entities.<entity>_pairs`` with
    Splink's backend ``splink`` (the engine's, on ``con``); with
    ``explain_dir``, also write Splink's charts and dashboards there (see :func:`explain`), and keep
    Splink's scored pairs for :func:`cluster_studio` after the resolve step (Splink works in the
    studio's schema then, :func:`_studio_schema`, and its predictions stay there)."""
    drop_studio(con, spec)       # the pairs an earlier run kept for its cluster studio
    linker, inputs = _linker(con, spec, model, splink, WORK if explain_dir is None else _studio_schema(spec))
    try:
        df = linker.inference.predict(threshold_match_probability=spec.thresholds["review_probability"])
        if explain_dir is not None:
            explain(linker, df, spec, explain_dir, con, inputs)
        gammas = ["gamma_" + c["output_column_name"] for c in model["comparisons"]]
        scored = _sql("scored_pairs", gammas=gammas, predictions=table_expr(df.physical_name))
        con.execute(_sql("pairs", pairs=table_expr(spec.table("pairs")), scored=exp.paren(verbatim(scored))))
        if explain_dir is not None:
            _keep_for_studio(con, spec, df)      # the cluster studio follows the resolve step
    except BaseException:
        drop_studio(con, spec)
        raise
    finally:
        cleanup(con)
    return con.execute(_sql("work_count", table=table_expr(spec.table("pairs")))).fetchall()[0][0]


def _enforce_cannot_link(con: Connection) -> None:
    """Records kept apart (by a steward or a ``distinct_when`` rule) can still meet through a third
    record. Clusters where that happened are rebuilt edge by edge, strongest first, never joining
    two groups that hold a pair kept apart. A record whose matches reach two groups kept apart (a
    name cut before its legal form, matching both the GmbH and the GmbH & Co. KG) could belong to
    either: it stays on its own, and its pairs go to review. All such clusters in one pass."""
    members = con.execute(_sql("cannot_link_clusters", work=WORK)).fetchall()
    if not members:
        return
    edges = con.execute(_sql("cannot_link_edges", work=WORK)).fetchall()
    cluster_of = dict((m, c) for c, m in members)
    apart: dict[str, set[str]] = {}
    for a, b in con.execute(_sql("work_pairs", pairs=_work_table("cannot"))).fetchall():
        if a in cluster_of and b in cluster_of:
            apart.setdefault(a, set()).add(b)
            apart.setdefault(b, set()).add(a)
    steward_linked = {r for pair in con.execute(_sql("work_pairs", pairs=_work_table("must"))).fetchall() for r in pair}
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
    con.execute(template(__file__, "recluster"))
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


def _on_pair_expr(condition: str, left: str = "l", right: str = "r",
                  columns: tuple[str, ...] = STANDARDISED) -> exp.Expression:
    """A ``distinct_when`` condition on the records aliased ``left`` and ``right``: ``x_l`` becomes
    ``<left>.x``, ``r.x`` becomes ``<right>.x``; SQL text, put into a statement as it is
    (``verbatim``). Parsed once per condition and aliases: a rule the types write can be tens of
    thousands of characters (a person name's), and parsing, copying and writing its tree again
    for each statement took seconds a run."""
    return verbatim(_on_pair_sql(condition, left, right, columns))


@functools.lru_cache(maxsize=256)
def _on_pair_sql(condition: str, left: str, right: str, columns: tuple[str, ...]) -> str:
    alias = {"l": left, "r": right}

    def rename(node: exp.Expression) -> exp.Expression:
        if isinstance(node, exp.Column):
            if not node.table and node.name[-2:] in ("_l", "_r") and node.name[:-2] in columns:
                return exp.column(node.name[:-2], table=alias[node.name[-1]])
            if node.table in alias:
                return exp.column(node.name, table=alias[node.table])
        return node

    return sqlglot.parse_one(condition, read="duckdb").transform(rename, copy=False).sql("duckdb")


def _fired(whens: list[tuple[exp.Expression, str]]) -> exp.Expression:
    """``list_filter([case when <fires> then '<rule>' end, ...], lambda x: x is not null)``."""
    cases = [exp.Case(ifs=[exp.If(this=condition, true=exp.Literal.string(name))]) for condition, name in whens]
    x = exp.to_identifier("x")
    return exp.func("list_filter", exp.Array(expressions=cases),
                    exp.Lambda(this=exp.column(x).is_(exp.null()).not_(), expressions=[x]), dialect="duckdb")


def _coalesce_false(condition: exp.Expression) -> exp.Expression:
    return exp.func("coalesce", condition, exp.false(), dialect="duckdb")


def _no_rules() -> exp.Expression:
    return exp.cast(exp.Array(expressions=[]), exp.DataType.build("varchar[]", dialect="duckdb"))


def distinct_exprs(spec: EntitySpec, left: str = "l", right: str = "r") -> tuple[exp.Expression, exp.Expression]:
    """(the names of the ``distinct_when`` rules that fire, as a list; whether one that fires asks
    for review) on two standardised records aliased ``left`` and ``right``."""
    if not spec.distinct_when:
        return _no_rules(), exp.false()
    fired = _fired([(_coalesce_false(_on_pair_expr(r.sql, left, right, spec.columns)), r.name) for r in spec.distinct_when])
    listed = [_coalesce_false(exp.and_(exp.paren(_on_pair_expr(r.sql, left, right, spec.columns)),
                                       exp.paren(_on_pair_expr(r.review_when, left, right, spec.columns))))
              for r in spec.distinct_when]
    return fired, exp.or_(*listed)


def distinct_sql(spec: EntitySpec, left: str = "l", right: str = "r") -> tuple[str, str]:
    """:func:`distinct_exprs` as DuckDB SQL."""
    return tuple(e.sql(dialect="duckdb") for e in distinct_exprs(spec, left, right))


def distinct_flags(spec: EntitySpec, left: str = "l", right: str = "r", scope: str | None = None) \
        -> tuple[list[exp.Expression], exp.Expression, exp.Expression]:
    """:func:`distinct_exprs` in two stages, so that each rule's condition is evaluated once per pair
    (``distinct_exprs`` names every condition twice: in the rules that fire and in whether one asks
    for review). Returns (the select list of flags ``_f<i>`` (the rule fires) and ``_w<i>`` (it
    fires and its ``review_when`` holds), on the records aliased ``left`` and ``right``; the rules
    that fire and whether one asks for review, on those flags). ``scope``: only the rules of that
    scope (``cluster``, ``match``)."""
    rules = [r for r in spec.distinct_when if scope is None or r.scope == scope]
    if not rules:
        return [], _no_rules(), exp.false()
    flags = []
    for i, r in enumerate(rules):
        flags.append(exp.alias_(_coalesce_false(_on_pair_expr(r.sql, left, right, spec.columns)), f"_f{i}"))
        flags.append(exp.alias_(_coalesce_false(_on_pair_expr(r.review_when, left, right, spec.columns)), f"_w{i}"))
    fired = _fired([(exp.column(f"_f{i}"), r.name) for i, r in enumerate(rules)])
    # coalesce(a and b, false) = coalesce(a, false) and coalesce(b, false)
    listed = exp.or_(*[exp.paren(exp.and_(exp.column(f"_f{i}"), exp.column(f"_w{i}")))
                       for i in range(len(rules))])
    return flags, fired, listed


def _rule_conflicts(con: Connection, spec: EntitySpec, must_link: list[tuple[str, str]]) -> int:
    """Pairs inside one cluster on which a ``distinct_when`` rule fires (``{WORK}.rule_pairs``:
    unique_id_l, unique_id_r, rules, listed), added to the cannot-link pairs. Every pair of a
    cluster is checked, not only the scored edges, so no chain of matches can join two records a
    rule keeps apart. Records a steward merged are exempt: a steward's decision wins over a rule."""
    con.execute(_sql("rule_pairs_create", work=WORK))
    if not any(r.scope == "cluster" for r in spec.distinct_when):
        return 0
    flags, fired, listed = distinct_flags(spec, scope="cluster")
    con.execute(_sql("rule_pairs_insert", work=WORK, standardised=table_expr(spec.table("standardised")),
                     flags=flags, fired=fired, listed=listed))
    if must_link:      # a steward's merge group (must-link pairs, transitively) is never split by a rule
        group = _groups(must_link)
        exempt = [(a, b) for a, b in con.execute(_sql("work_pairs", pairs=_work_table("rule_pairs"))).fetchall()
                  if a in group and group.get(a) == group.get(b)]
        if exempt:
            con.execute("create or replace temp table _exempt (a varchar, b varchar)")
            insert_rows(con, "_exempt", exempt)
            con.execute(_sql("rule_pairs_exempt", work=WORK))
            con.execute("drop table _exempt")
    con.execute(_sql("rule_pairs_cannot", work=WORK))
    return con.execute(_sql("work_count", table=_work_table("rule_pairs"))).fetchall()[0][0]


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


def _weak_matches(con: Connection, spec: EntitySpec) -> int:
    """Edges on which a ``distinct_when`` rule of scope ``match`` fires, moved out of the edges into
    ``{WORK}.weak`` (unique_id_l, unique_id_r, match_probability, rules, listed): such a match does
    not join its records by itself. A steward's merge (must-link, added after) still does."""
    if not any(r.scope == "match" for r in spec.distinct_when):
        return 0
    flags, fired, listed = distinct_flags(spec, scope="match")
    con.execute(_sql("weak_edges", work=WORK, standardised=table_expr(spec.table("standardised")),
                     flags=flags, fired=fired, listed=listed))
    con.execute(_sql("weak_edges_delete", work=WORK))
    return con.execute(_sql("work_count", table=_work_table("weak"))).fetchall()[0][0]


def connected_components(con: Connection, spec: EntitySpec, splink: Any, must_link: list[tuple[str, str]] = (),
                         cannot_link: list[tuple[str, str]] = ()) -> str:
    """Cluster every standardised record (``_clusters_raw``: unique_id, cluster_id), with Splink's
    backend ``splink`` (the engine's, on ``con``), from the pairs
    at or above the match threshold, plus must-link pairs, minus cannot-link pairs and pairs a
    ``distinct_when`` rule keeps apart. ``_kept_apart`` lists the edges at or above the match
    threshold that ended up between clusters because of a rule, ``_bridges`` the records left on
    their own because they match into two groups kept apart (both for the review queue)."""
    from splink.clustering import cluster_pairwise_predictions_at_threshold

    threshold = spec.thresholds["match_probability"]
    con.execute(_sql("drop_schema", work=WORK))
    con.execute(_sql("create_schema", work=WORK))
    con.execute(_sql("nodes", work=WORK, standardised=table_expr(spec.table("standardised"))))
    con.execute(_sql("edges", work=WORK, pairs=table_expr(spec.table("pairs"))), [threshold])
    weak = _weak_matches(con, spec)
    con.execute(_sql("pair_table", table=_work_table("must")))
    con.execute(_sql("pair_table", table=_work_table("cannot")))
    if must_link:
        insert_rows(con, WORK + ".must", [sorted(p) for p in must_link])
        con.execute(_sql("must_link_edges", work=WORK))
    if cannot_link:
        insert_rows(con, WORK + ".cannot", [sorted(p) for p in cannot_link])
        con.execute(_sql("cannot_link_delete", work=WORK))
    db_api = splink.api(WORK)
    try:
        clusters = cluster_pairwise_predictions_at_threshold(
            WORK + ".nodes", WORK + ".edges", db_api, node_id_column_name="unique_id",
            edge_id_column_name_left="unique_id_l", edge_id_column_name_right="unique_id_r",
            threshold_match_probability=0.0)
        con.execute(_sql("clusters_raw", clusters=table_expr(clusters.physical_name)))
        con.execute("create or replace temp table _bridges (unique_id varchar)")
        ruled = _rule_conflicts(con, spec, list(must_link))
        if cannot_link or ruled:
            _enforce_cannot_link(con)
        # edges Splink would have merged that a rule kept apart, directly or through a third record
        con.execute(_sql("kept_apart", work=WORK, ruled=exp.true() if ruled else exp.false()))
        if weak:        # matches a rule of scope 'match' took out, if nothing else joined their records
            con.execute(_sql("kept_apart_weak", work=WORK))
    finally:
        cleanup(con)
    return "_clusters_raw"


_EXTERNAL_LINK = re.compile(r"<link[^>]+https?://[^>]*>\s*", re.IGNORECASE)


def _offline(path: Path) -> None:
    """Splink's dashboards inline their scripts but link Google Fonts: opening them would send the
    reader's address to Google (GDPR) and fail on a closed network. Drop those links."""
    path.write_text(_EXTERNAL_LINK.sub("", path.read_text(encoding="utf-8")), encoding="utf-8")


def _studio_schema(spec: EntitySpec) -> str:
    """Splink's scratch schema when :func:`predict` draws charts: its scored pairs stay there, as
    ``<schema>.pairs``, until :func:`cluster_studio` has drawn the resolved clusters."""
    return f"{WORK}_{spec.name}_studio"


def _keep_for_studio(con: Connection, spec: EntitySpec, predictions) -> None:
    """Keep Splink's scored pairs, every column the cluster studio shows, where Splink wrote them
    (:func:`_studio_schema`, renamed ``pairs``) rather than a copy of them: everything else Splink
    left in that schema is dropped."""
    schema = _studio_schema(spec)
    for _, name, kind, *_ in catalog.relations(con, schema):
        if name != predictions.physical_name:
            drop = ("drop_table", "table") if kind == "table" else ("drop_view", "view")
            con.execute(_sql(drop[0], **{drop[1]: table_expr(f"{schema}.{name}")}))
    con.execute(_sql("rename_table", table=table_expr(f"{schema}.{predictions.physical_name}"),
                     new_name=exp.to_identifier(STUDIO_PAIRS)))


def drop_studio(con: Connection, spec: EntitySpec) -> None:
    """The pairs an earlier scoring kept for the cluster studio, dropped (scoring on Spark keeps none)."""
    con.execute(_sql("drop_schema", work=_studio_schema(spec)))


def cluster_studio(con: Connection, spec: EntitySpec, model: dict[str, Any], out_dir: Path, splink: Any,
                   sample_size: int = 20, seed: int = 0) -> Path | None:
    """Splink's cluster studio (``cluster_studio.html`` under ``out_dir``; ``splink``: Splink's
    backend on ``con``) on the resolved clusters
    (``entities.<e>_clusters``, golden id as cluster id) and the pairs the last :func:`predict` with
    ``explain_dir`` kept; None (and nothing written) without them. Sampled as Splink's
    ``by_cluster_size``: one cluster of each size of two or more (of a size, the one whose greatest
    member id is smallest), ``sample_size`` of them at random (``seed``). Nothing is clustered
    again (Splink's clustering of the scored pairs for the studio is gone from the scoring step),
    and only the sampled clusters' records are read; the kept pairs are dropped."""
    import random

    kept = f"{_studio_schema(spec)}.{STUDIO_PAIRS}"
    if not catalog.table_exists(con, _studio_schema(spec), STUDIO_PAIRS):
        return None
    linker, inputs = _linker(con, spec, model, splink)
    try:
        sizes = con.execute(_sql("studio_sample", clusters=table_expr(spec.table("clusters")))).fetchall()
        if len(sizes) > sample_size:
            sizes = random.Random(seed).sample(sizes, k=sample_size)
        out_dir.mkdir(parents=True, exist_ok=True)
        path = out_dir / "cluster_studio.html"
        if not sizes:
            path.write_text("<p>No cluster of two or more records.</p>", encoding="utf-8")
            return path
        con.execute(_sql("studio_ids_table", ids=_work_table("studio_ids")))
        insert_rows(con, f"{WORK}.studio_ids", sizes)
        # as Splink concatenates its inputs: with more than one, each record's source_dataset is the
        # display name its table was registered under (the pairs name records by it and unique_id)
        parts = [exp.select(*([exp.alias_(exp.Literal.string(t.dataset_display_name), "source_dataset")]
                              if len(inputs) > 1 else []), exp.Star()).from_(table_expr(t.physical_name))
                 for t in inputs]
        records = parts[0] if len(parts) == 1 else exp.union(*parts, distinct=False)
        con.execute(exp.Create(this=_work_table("studio_records"), kind="VIEW", replace=True,
                               expression=records).sql(dialect="duckdb"))
        con.execute(_sql("studio_clusters", clusters=_work_table("studio_clusters"),
                         assigned=table_expr(spec.table("clusters")), ids=_work_table("studio_ids"),
                         records=_work_table("studio_records")))
        db_api = inputs[0].db_api      # the linker's backend, through the public SplinkDataFrame
        linker.visualisations.cluster_studio_dashboard(
            db_api.register(kept), db_api.register(f"{WORK}.studio_clusters"), str(path),
            cluster_ids=[golden_id for golden_id, _ in sizes],
            cluster_names=[f"Cluster ID: {golden_id}, size:  {size}" for golden_id, size in sizes], overwrite=True)
        _offline(path)
        return path
    finally:
        cleanup(con)
        drop_studio(con, spec)


def explain(linker, predictions, spec: EntitySpec, out_dir: Path, con: Connection,
            inputs: list) -> dict[str, Path]:
    """Match-weight chart, waterfall of the closest calls and comparison viewer, as self-contained
    HTML (no CDN, no web fonts) under ``out_dir`` (the cluster studio, which shows the resolved
    clusters, follows the resolve step: :func:`cluster_studio`). ``con`` and ``inputs``: the linker's
    connection and registered input tables (:func:`_linker`)."""
    out_dir.mkdir(parents=True, exist_ok=True)
    files = {name: out_dir / f"{name}.html" for name in ("match_weights", "waterfall", "comparison_viewer")}
    linker.visualisations.match_weights_chart().save(str(files["match_weights"]), inline=True)
    hi = spec.thresholds["match_probability"]
    # the waterfall explains the pairs a steward has to look at: those nearest the match threshold
    nearest = exp.func("abs", exp.column("match_probability") - exp.convert(hi), dialect="duckdb")
    closest = con.execute(exp.select(exp.Star()).from_(table_expr(predictions.physical_name))
                          .order_by(nearest).limit(10).sql("duckdb"))
    names = [d[0] for d in closest.description]
    records = [dict(zip(names, row)) for row in closest.fetchall()]
    if records:
        linker.visualisations.waterfall_chart(records, filter_nulls=False).save(str(files["waterfall"]), inline=True)
    else:
        files["waterfall"].write_text("<p>No scored pairs.</p>", encoding="utf-8")
    linker.visualisations.comparison_viewer_dashboard(predictions, str(files["comparison_viewer"]), overwrite=True,
                                                      num_example_rows=2)
    _offline(files["comparison_viewer"])
    return files
