"""The entity stage's entry point: standardise → train → score → resolve → sync, per entity.

Each step is one function on the warehouse connection and the entity's spec; the steps that run
Splink (train, score, cluster, resolve, studio) also take Splink's backend, which the engine
builds (``DuckDBEngine(con).splink()``: the stage never chooses it); resolving also takes the
state store (the stewards' decisions in, the run's audit events out). Dagster's assets
(``assets/entities.py``), the accuracy harness and the benchmarks call these, so the stage runs
the same everywhere; what a step returns is plain data the caller shows as it likes.

Crash safety of :func:`resolve`: the entity tables change in one warehouse transaction, committed
only after the state store holds the run's events. A kill in between leaves the old tables and at
worst events recorded twice (replaying them is idempotent), never half-replaced tables or golden
ids the audit trail does not know.

On Spark (``[tool.kontor] engine = "spark"``): :func:`standardise_on_spark` and
:func:`score_on_spark` run those two steps on Spark (``entities/spark.py``: the same SQL through
``SparkConnection``; Splink's SparkAPI with the model trained on DuckDB, Kontor's DuckDB-identical
string similarities) and copy their tables back into the DuckDB warehouse in DuckDB's row order;
:func:`train_on_spark` trains there with ``[tool.kontor.spark] train = true``; with ``resolve = true``
:func:`resolve_on_spark` computes survivorship and the golden, clusters, xref and conflicts tables on Spark by the same SQL
(``entities/spark.py`` ``BuildOnSpark``), written into the warehouse inside :func:`resolve`'s one
transaction; clustering under the decisions and rules, the stable golden ids and id history, the
steward overrides, the review queue, the audit events and sync stay on DuckDB, and so do Splink's
charts and cluster studio (not drawn on Spark yet).
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlglot import exp

from pipelines.core.sql import render, table_expr, template
from pipelines.core.state import StateStore
from pipelines.engines.connection import Connection
from pipelines.entities import golden, matching
from pipelines.entities.decisions import Constraints, constraints
from pipelines.entities.evaluate import evaluate, queue_figures
from pipelines.entities.spec import EntitySpec
from pipelines.entities.standardise import standardise as _standardise

RESOLVED_PARTS = ("clusters", "golden", "xref", "conflicts", "review_queue", "id_history")
# the order the DuckDB steps write their tables in (``sql/standardised.sql``, ``sql/pairs.sql``)
ORDER = {"standardised": ["unique_id"], "pairs": ["match_probability desc", "unique_id_l", "unique_id_r"]}


def _sql(name: str, **tables: str) -> str:
    """The template ``sql/<name>.sql`` with each ``:placeholder`` a table (``schema.table``)."""
    return render(template(__file__, name), **{key: table_expr(value) for key, value in tables.items()})


def count(con: Connection, table: str) -> int:
    return con.execute(_sql("count", relation=table)).fetchall()[0][0]


@dataclass
class Standardised:
    rows: int
    header: list[str]                     # the columns of ``by_system``
    by_system: list[tuple]
    totals: dict[str, int]                # records without a usable key, invalid values per attribute


def standardise(con: Connection, spec: EntitySpec, relations: dict[str, str]) -> Standardised:
    """(Re)build ``entities.<e>_standardised`` from the staging models (``relations``: model →
    relation), with what it holds per system."""
    return _summary(con, spec, _standardise(con, spec, relations))


def _summary(con: Connection, spec: EntitySpec, rows: int) -> Standardised:
    if spec.declared is not None:
        valid = [c for c in spec.columns if c.endswith("_valid")]
        per_system = con.execute(_declared_by_system(spec, valid)).fetchall()
        return Standardised(rows, ["system", "records", "no key at all", *[f"invalid {c[:-6]}" for c in valid]], per_system,
                            {"no_usable_key": sum(r[2] for r in per_system),
                             **{f"invalid_{c[:-6]}": sum(r[3 + i] for r in per_system) for i, c in enumerate(valid)}})
    per_system = con.execute(_sql("standardised_by_system", standardised=spec.table("standardised"))).fetchall()
    return Standardised(rows, ["system", "records", "no usable name", "invalid IBAN", "invalid VAT ID"], per_system,
                        {"invalid_iban": sum(r[3] for r in per_system), "invalid_vat_id": sum(r[4] for r in per_system),
                         "no_usable_name": sum(r[2] for r in per_system)})


def _declared_by_system(spec: EntitySpec, valid: list[str]) -> str:
    """Per system: records, records without any key, and the invalid values of each validating attribute."""
    def filtered(condition: exp.Expression) -> exp.Expression:
        return exp.Filter(this=exp.Count(this=exp.Star()), expression=exp.Where(this=condition))

    counts = [filtered(exp.not_(exp.paren(exp.maybe_parse(spec.matchable, dialect="duckdb")))),
              *[filtered(exp.EQ(this=exp.column(c, quoted=True), expression=exp.false())) for c in valid]]
    return (exp.select(exp.column("source_system"), exp.Count(this=exp.Star()), *counts)
            .from_(table_expr(spec.table("standardised"))).group_by("1").order_by("1").sql("duckdb"))


def train(con: Connection, spec: EntitySpec, splink: Any, splink_dir: Path, retrain: bool = False) -> matching.TrainedModel:
    """The current trained model: a new version when asked, when there is none, when the settings
    changed or the input drifted."""
    return matching.ensure_model(con, spec, splink_dir, splink, retrain=retrain)


def train_on_spark(con: Connection, spark: Any, spec: EntitySpec, splink_dir: Path, tmp_dir: Path,
                   retrain: bool = False) -> matching.TrainedModel:
    """:func:`train` with Splink on Spark (``entities/spark_train.py``, Splink's backend from the
    Spark engine) from the standardised records in Spark's catalog (copied there first when this
    run did not write them); the model, in DuckDB's dialect, kept in the DuckDB warehouse ``con``
    as on DuckDB."""
    from pipelines.entities.spark_train import OnSpark

    spark.stage_inputs(con, [tuple(spec.table("standardised").split("."))], tmp_dir / "to_spark")
    return matching.ensure_model(con, spec, splink_dir, spark.engine().splink(), retrain=retrain,
                                 on=OnSpark(spark.session(), spec))


def spark_inputs(spec: EntitySpec, relations: dict[str, str]) -> list[tuple[str, str]]:
    """(schema, table) of what :func:`standardise` reads: the staging models of the entity's inputs
    and the xref of an entity a ``reference`` attribute names (built on DuckDB)."""
    read = [relations[i.model] for i in spec.inputs]
    read += [f"entities.{a.options['entity']}_xref" for a in spec.declared or [] if a.type == "reference"]
    return [(t.db, t.name) for t in (exp.to_table(r, dialect="duckdb") for r in dict.fromkeys(read))]


def _copied_back(con: Connection, spark: Any, spec: EntitySpec, part: str, tmp_dir: Path) -> None:
    """``entities.<e>_<part>`` copied from Spark into the DuckDB warehouse, in DuckDB's order."""
    schema, name = spec.table(part).split(".")
    spark.copy_back(con, [(schema, name)], tmp_dir / "from_spark")
    order = [exp.maybe_parse(o, into=exp.Ordered, dialect="duckdb") for o in ORDER[part]]
    con.execute(render(template(__file__, "ordered"), table=table_expr(spec.table(part)), order=order))


def standardise_on_spark(con: Connection, spark: Any, spec: EntitySpec,
                         relations: dict[str, str], tmp_dir: Path) -> Standardised:
    """:func:`standardise` on Spark (``spark``: what ``assets/spark.py``'s ``SparkResource`` offers:
    the session, the relations the run wrote to Spark, copies in and back): what it reads
    that this run did not write to Spark is copied there first (:func:`spark_inputs`); the
    standardised table is then copied back into the DuckDB warehouse (``con``), which training,
    clustering and survivorship read."""
    from pipelines.entities.spark import standardise_on_spark as on_spark

    spark.stage_inputs(con, spark_inputs(spec, relations), tmp_dir / "to_spark")
    on_spark(spark.session(), spec, relations)
    spark.wrote(spec.table("standardised"))
    _copied_back(con, spark, spec, "standardised", tmp_dir)
    return _summary(con, spec, count(con, spec.table("standardised")))


@dataclass
class Scored:
    pairs: int                  # pairs at or above the review threshold
    matched: int                # of them, at or above the match threshold


def score(con: Connection, spec: EntitySpec, splink: Any, model: dict[str, Any] | None = None,
          explain_dir: Path | None = None) -> Scored:
    """Score the candidate pairs with ``model`` (default: the latest trained version), Splink's
    charts under ``explain_dir`` when given (its cluster studio after :func:`resolve`: :func:`studio`)."""
    if model is None:
        model = json.loads(matching.latest_model(con, spec.name)[3])
    rows = matching.predict(con, spec, model, splink, explain_dir=explain_dir)
    matched = con.execute(_sql("count_matched_pairs", pairs=spec.table("pairs")),
                          [spec.thresholds["match_probability"]]).fetchall()[0][0]
    return Scored(rows, matched)


def score_on_spark(con: Connection, spark: Any, spec: EntitySpec, tmp_dir: Path,
                   model: dict[str, Any] | None = None) -> Scored:
    """:func:`score` on Splink's SparkAPI (``entities/spark.py``; the model, by default the latest
    trained version, from the DuckDB warehouse ``con``), the pairs copied back into it. No charts
    and no cluster studio: the pairs an earlier run kept for one are dropped."""
    from pipelines.entities.spark import predict_on_spark

    if model is None:
        model = json.loads(matching.latest_model(con, spec.name)[3])
    matching.drop_studio(con, spec)
    spark.stage_inputs(con, [tuple(spec.table("standardised").split("."))], tmp_dir / "to_spark")
    schema, name = spec.table("pairs").split(".")
    view = f"_kontor_pairs_{spec.name}"
    predict_on_spark(spark.engine().splink(), spec, model).createOrReplaceTempView(view)
    spark.engine().create_or_replace_spark(schema, name, exp.select("*").from_(exp.to_identifier(view, quoted=True)).sql("spark"))
    spark.session().catalog.dropTempView(view)
    spark.wrote(spec.table("pairs"))
    _copied_back(con, spark, spec, "pairs", tmp_dir)
    matched = con.execute(_sql("count_matched_pairs", pairs=spec.table("pairs")),
                          [spec.thresholds["match_probability"]]).fetchall()[0][0]
    return Scored(count(con, spec.table("pairs")), matched)


def studio(con: Connection, spec: EntitySpec, splink: Any, out_dir: Path) -> Path | None:
    """Splink's cluster studio under ``out_dir`` on the resolved clusters (after :func:`resolve`),
    when :func:`score` kept its pairs for it (with ``explain_dir``); None otherwise."""
    found = matching.latest_model(con, spec.name)
    return matching.cluster_studio(con, spec, json.loads(found[3]), out_dir, splink) if found is not None else None


def decisions(store: StateStore | None, spec: EntitySpec) -> Constraints:
    """The stewards' effective decisions on the entity (none without a state store)."""
    return constraints(store.decisions(spec.name), spec.name) if store is not None else Constraints()


def cluster(con: Connection, spec: EntitySpec, splink: Any, decided: Constraints | None = None) -> str:
    """Cluster the scored pairs under the decisions and ``distinct_when`` rules; the temp table's name."""
    decided = decided or Constraints()
    return matching.connected_components(con, spec, splink, decided.must_link, decided.cannot_link)


def resolve(con: Connection, spec: EntitySpec, splink: Any, run_id: str, store: StateStore | None = None,
            clusters: str | None = None, decided: Constraints | None = None, build=None) -> golden.Resolved:
    """Cluster (unless ``clusters`` is given; with Splink's backend ``splink``) and write clusters, golden records, xref, conflicts,
    review queue and id history in one transaction; with a state store, honour its decisions,
    take golden ids from its audit trail when the warehouse was rebuilt from scratch, and append
    the run's audit events (and mirror the store) before committing. ``build``: where survivorship
    and the golden, clusters, xref and conflicts tables are computed (``golden.resolve``; default
    DuckDB; :func:`resolve_on_spark` passes Spark's)."""
    if decided is None:
        decided = decisions(store, spec)
    first_build = not golden._exists(con, spec.table("golden"))
    # a warehouse rebuilt from scratch: golden ids as the audit trail last recorded them
    previous = golden.replay_xref(store.audit(entity=spec.name, kind="xref_change")) \
        if store is not None and not golden._exists(con, spec.table("xref")) else None
    if clusters is None:
        clusters = cluster(con, spec, splink, decided)
    con.execute("begin transaction")
    try:
        resolved = golden.resolve(con, spec, clusters, run_id, decided, previous, build=build)
        if store is not None:
            store.append_audit(audit_events(spec, resolved, run_id, first_build))
            store.mirror(con)
        con.execute("commit")
    except BaseException:
        con.execute("rollback")
        raise
    return resolved


def resolve_on_spark(con: Connection, spark: Any, spec: EntitySpec, splink: Any, run_id: str, tmp_dir: Path,
                     store: StateStore | None = None, clusters: str | None = None,
                     decided: Constraints | None = None) -> golden.Resolved:
    """:func:`resolve` with survivorship and the golden, clusters, xref and conflicts tables computed
    on Spark (``spark``: ``assets/spark.py``'s ``SparkResource``) by the same SQL
    (``entities.spark.BuildOnSpark``), from the standardised records and scored pairs in Spark's
    catalog (copied there first when this run did not write them). Clustering under the decisions
    (with ``splink``, Splink's backend on the DuckDB warehouse ``con``),
    the stable golden ids and id history (from the DuckDB warehouse's xref, or the state store's
    audit trail after a rebuild), the steward overrides, the review queue and the audit events stay
    on DuckDB; the crash-safety contract is :func:`resolve`'s: the Spark results are written into
    the DuckDB warehouse inside its one transaction, committed after the state store holds the
    run's audit events."""
    from pipelines.entities.spark import BuildOnSpark

    spark.stage_inputs(con, [tuple(spec.table(part).split(".")) for part in ("standardised", "pairs")],
                       tmp_dir / "to_spark")
    return resolve(con, spec, splink, run_id, store, clusters, decided, build=BuildOnSpark(spark.session()))


def audit_events(spec: EntitySpec, resolved: golden.Resolved, run_id: str, first_build: bool) -> list[dict]:
    """The run's audit events: golden values and xref that changed, and one ``golden_change`` saying
    why nothing changed when nothing did."""
    events = list(resolved.changes)
    if not any(e["kind"] == "golden_change" for e in events):
        events.append({"run_id": run_id, "actor": f"rule:{spec.name}", "kind": "golden_change",
                       "entity": spec.name, "object_id": None, "before": None,
                       "after": {"golden_records": resolved.golden},
                       "detail": "first build" if first_build else "no golden value changed"})
    return events


@dataclass
class Outcome:
    """What the resolved tables hold, for the caller to show."""
    accuracy: dict[str, Any] | None          # against ground truth under the data directory, if asked and any
    queue: list[tuple]                       # the first open and pending review items
    open_items: int
    counts: dict[str, int] = field(default_factory=dict)     # rows per resolved table


def outcome(con: Connection, spec: EntitySpec, data_dir: Path | None) -> Outcome:
    """The resolved tables' counts and review queue; with ``data_dir``, accuracy against the ground
    truth the entity file names under it (evaluated only when asked: ``kontor run --evaluate``)."""
    accuracy = evaluate(con, spec, data_dir) if data_dir is not None else None
    if accuracy:    # what the review queue is worth: items per 1,000 records, share needing a human
        accuracy.update(queue_figures(con, spec, data_dir))
    queue = con.execute(_sql("queue_top", queue=spec.table("review_queue"))).fetchall()
    open_items = queue_counts(con, spec)[0]
    return Outcome(accuracy, queue, open_items, {part: count(con, spec.table(part)) for part in RESOLVED_PARTS})


def queue_counts(con: Connection, spec: EntitySpec) -> tuple[int, int]:
    """(open, pending approval) items of the review queue."""
    sql = _sql("count_status", queue=spec.table("review_queue"))
    return tuple(con.execute(sql, [status]).fetchall()[0][0] for status in ("open", "pending"))


@dataclass
class Synced:
    files: dict[str, Path]                   # system -> its CSV
    by_system: list[tuple]                   # system, proposals, proposals needing sign-off
    total: int


def sync(con: Connection, spec: EntitySpec, out_dir: Path) -> Synced:
    """The sync proposals table and one CSV per system under ``out_dir``."""
    files = golden.sync_proposals(con, spec, out_dir)
    per_system = con.execute(_sql("sync_by_system", proposals=spec.table("sync_proposals"))).fetchall()
    return Synced(files, per_system, count(con, spec.table("sync_proposals")))
