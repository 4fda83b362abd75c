"""The entity stage's engine part on Spark: standardise, score with a stored model, cluster,
survivorship.

- **Standardise**: ``standardise.standardise`` runs unchanged on a ``SparkConnection`` (DuckDB's
  connection API on Spark: its SQL through Kontor's rewrite layer, temporary tables as
  checkpointed temporary views). The IBAN and VAT-ID checks are Python over the distinct values
  not seen before, run on the executors (``engines.mapped``: ``mapInArrow`` with
  ``id_checks.check_value``, written into ``entities._id_checks`` by Spark): the driver never
  holds the values, and the executors' Python needs python-stdnum and schwifty.
- **Score**: Splink's ``SparkAPI`` with the trained model JSON (in DuckDB's dialect) written for Spark by :func:`spark_model`: every comparison level and blocking rule
  through the rewrite layer, so ``jaro_winkler_similarity`` is Kontor's function that equals
  DuckDB's (``engines.spark_functions``), not Spark's builtin of the same name, which differs.
  Splink's jar is not needed.
- **Cluster**: Splink's connected components on the same backend.
- **Train**: ``matching.train`` on Splink's SparkAPI (``spark_train.OnSpark``), the model kept in
  DuckDB's dialect, so a model trained on either engine scores on both.

- **Survivorship** (:class:`BuildOnSpark`, ``stage.resolve_on_spark``): ``golden.build_tables``
  unchanged on a ``SparkConnection``: the candidates, rules and winners (``_cand``, ``_winners``)
  and the golden, clusters, xref and conflicts tables, from the standardised records and scored
  pairs in Spark's catalog and ``_members`` (the stable golden ids) sent from DuckDB; written back
  into the DuckDB warehouse inside ``stage.resolve``'s one transaction (as Arrow over the
  connection: ``copy_to_duckdb`` swaps tables in a transaction of its own, which DuckDB cannot
  nest), then dropped from Spark's catalog.

What stays on DuckDB in the resolve step: clustering under the steward decisions and
``distinct_when`` rules (``matching.connected_components``: Splink's DuckDBAPI plus the rule
checks between clusters; ``clusters_on_spark`` above is Splink's plain connected components,
without the decisions and rules), the stable golden ids and id history (``golden.assign_ids``: a
Python pass over the continuations; the previous ids are the DuckDB warehouse's xref, or the
state store's audit trail after a rebuild, never Spark's catalog, which a local master keeps
for one session only), the steward overrides (``update`` statements), the review queue and the
audit events (``golden_changes``): they read the tables written back. Sync proposals run on
DuckDB. Time: on the demo's 52 suppliers about two minutes on Spark (local[2], a loaded machine)
against three seconds on DuckDB: Spark pays a job per window, join and union branch of the
survivorship SQL, so this is for data that does not fit one machine, not for speed at demo size.
"""
from __future__ import annotations

import copy
import functools
from typing import TYPE_CHECKING, Any

from sqlglot import exp

from pipelines.engines.connection import fetch_arrow
from pipelines.engines.engine import _spark_rel
from pipelines.engines.spark_connection import SparkConnection
from pipelines.engines.spark_rules import to_spark
from pipelines.core.sql import render, table_expr, template
from pipelines.entities.matching import SPLINK_LOG_LEVEL, SPLINK_VALIDATE_SETTINGS, _where
from pipelines.entities.spec import EntitySpec
from pipelines.entities.standardise import standardise

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

    from pipelines.engines.splink_backend import SparkSplink


def standardise_on_spark(session: "SparkSession", spec: EntitySpec, relations: dict[str, str]) -> int:
    """(Re)build ``entities.<entity>_standardised`` in Spark's catalog from the staging tables
    there; returns its row count. The same SQL as on DuckDB (``standardise.py``)."""
    return standardise(SparkConnection(session), spec, relations)


def _condition(sql: str) -> str:
    """One SQL condition of Splink's settings (DuckDB's dialect) as Spark SQL."""
    return sql if sql.strip().upper() == "ELSE" else to_spark(sql)


def spark_model(model: dict[str, Any]) -> dict[str, Any]:
    """A Splink model (settings with m and u) written in DuckDB's dialect, for Splink on Spark:
    the same parameters, every SQL condition through Kontor's rewrite layer."""
    out = copy.deepcopy(model)
    out["sql_dialect"] = "spark"
    for comparison in out["comparisons"]:
        for level in comparison["comparison_levels"]:
            level["sql_condition"] = _condition(level["sql_condition"])
    rules = []
    for rule in out.get("blocking_rules_to_generate_predictions") or []:
        rule = {"blocking_rule": rule} if isinstance(rule, str) else dict(rule)
        rule["blocking_rule"] = _condition(rule["blocking_rule"])
        rule["sql_dialect"] = "spark"
        rules.append(rule)
    out["blocking_rules_to_generate_predictions"] = rules
    return out


def _inputs(session: "SparkSession", spec: EntitySpec) -> list[str]:
    """Temporary views of the matchable records, one per system (as ``matching._work``)."""
    names = []
    for system in spec.systems:
        name = f"_kontor_in_{spec.name}_{system}"
        query = exp.select("*").from_(table_expr(spec.table("standardised"))).where(
            exp.and_(exp.column("source_system").eq(exp.Literal.string(system)), _where(spec.matchable)))
        session.sql(to_spark(query.sql("duckdb"))).createOrReplaceTempView(name)
        names.append(name)
    if spec.splink["link_type"] == "dedupe_only":
        name = f"_kontor_in_{spec.name}_all"
        selects = [exp.select("*").from_(exp.to_identifier(n, quoted=True)) for n in names]
        union = functools.reduce(lambda a, b: exp.union(a, b, distinct=False), selects)
        session.sql(union.sql("spark")).createOrReplaceTempView(name)
        return [name]
    return names


def spark_linker(splink: "SparkSplink", spec: EntitySpec, settings: dict[str, Any]):
    """A Splink linker on Splink's SparkAPI (``splink``: the Spark engine's backend) over the
    matchable records (as ``matching._linker`` on DuckDB), from ``settings`` in DuckDB's dialect
    (:func:`spark_model`)."""
    from splink import Linker

    db_api = splink.api()
    tables = _inputs(splink.session, spec)
    if spec.splink["link_type"] == "dedupe_only":
        sdfs = [db_api.register(tables[0])]
    else:
        sdfs = [db_api.register(t, dataset_display_name=system) for t, system in zip(tables, spec.systems)]
    return Linker(sdfs, spark_model(settings), log_level=SPLINK_LOG_LEVEL, validate_settings=SPLINK_VALIDATE_SETTINGS)


def predict_on_spark(splink: "SparkSplink", spec: EntitySpec, model: dict[str, Any]) -> "DataFrame":
    """Score candidate pairs (≥ the review threshold) with a trained model on Splink's backend
    ``splink`` (``SparkEngine.splink()``), as ``matching.predict`` does on DuckDB: a DataFrame of
    unique_id_l < unique_id_r, match_probability, match_weight, system_l, system_r, the gammas and
    match_key."""
    linker = spark_linker(splink, spec, model)
    predictions = linker.inference.predict(threshold_match_probability=spec.thresholds["review_probability"])
    gammas = [exp.column("gamma_" + c["output_column_name"]) for c in model["comparisons"]]
    return splink.session.sql(to_spark(render(template(__file__, "scored_pairs"), gammas=gammas,
                                       predictions=exp.to_table(predictions.physical_name))))


def clusters_on_spark(splink: "SparkSplink", nodes: "DataFrame", pairs: "DataFrame", threshold: float) -> "DataFrame":
    """Splink's connected components of ``pairs`` at or above ``threshold`` over ``nodes``
    (unique_id), on Splink's backend ``splink``: a DataFrame of unique_id, cluster_id (the
    smallest unique_id of the cluster)."""
    from splink.clustering import cluster_pairwise_predictions_at_threshold

    session = splink.session
    db_api = splink.api()
    nodes.select("unique_id").createOrReplaceTempView("_kontor_nodes")
    pairs.select("unique_id_l", "unique_id_r", "match_probability").createOrReplaceTempView("_kontor_edges")
    clusters = cluster_pairwise_predictions_at_threshold(
        "_kontor_nodes", "_kontor_edges", db_api, node_id_column_name="unique_id",
        edge_id_column_name_left="unique_id_l", edge_id_column_name_right="unique_id_r",
        threshold_match_probability=threshold)
    return session.sql(to_spark(render(template(__file__, "spark_clusters"), clusters=exp.to_table(clusters.physical_name))))


# The tables ``golden.build_tables`` writes, in the order the DuckDB templates write them.
BUILT_ORDER = {"golden": ["golden_id"], "clusters": ["golden_id", "unique_id"], "xref": ["system", "source_id"],
               "conflicts": ["golden_id", "attribute", "won desc", "system", "unique_id"]}
# the temporary tables it leaves that the resolve step reads on DuckDB afterwards (the review queue)
BUILT_TEMPS = ("_winners", "_steward_merged")


class BuildOnSpark:
    """``golden.build_tables`` on Spark, as ``golden.resolve``'s ``build``: ``_members`` (the stable
    golden ids, assigned on DuckDB) sent to Spark; survivorship and the golden, clusters, xref and
    conflicts tables computed there by the same SQL through ``SparkConnection`` from the
    standardised records and scored pairs in Spark's catalog; the four tables and the temporary
    ``_winners`` and ``_steward_merged`` then written into the DuckDB connection ``con`` (as
    tables, in DuckDB's order; inside its open transaction: the copy goes as Arrow over the
    connection, not through ``copy_to_duckdb``, whose swap opens a transaction of its own). The
    tables are dropped from Spark's catalog afterwards: the steward overrides are applied to
    them on DuckDB, so Spark must not keep a version without them."""

    def __init__(self, session: "SparkSession"):
        self.session = session

    def __call__(self, con, spec: EntitySpec, decided) -> None:
        from pipelines.entities import golden

        spark = SparkConnection(self.session)
        members = fetch_arrow(con, exp.select("*").from_("_members").sql("duckdb"))
        spark.temp_table("_members", members)
        try:
            golden.build_tables(spark, spec, decided)
            for part, order in BUILT_ORDER.items():
                schema, name = spec.table(part).split(".")
                _to_duckdb(con, self.session.table(_spark_rel(schema, name)).toArrow(), table_expr(spec.table(part)),
                           order=[exp.maybe_parse(o, into=exp.Ordered, dialect="duckdb") for o in order])
                spark.execute(render(template(__file__, "drop_table"), table=table_expr(spec.table(part))))
            for temp in BUILT_TEMPS:
                _to_duckdb(con, self.session.table(temp).toArrow(), exp.to_table(temp), temporary=True)
        finally:
            for temp in sorted(spark.temps):
                self.session.catalog.dropTempView(temp)


def _to_duckdb(con, table, target: exp.Table, order: list | None = None, temporary: bool = False) -> None:
    """An Arrow table from Spark as a DuckDB table (``create or replace``, in ``order``). Spark's
    timestamps arrive with the session's zone (UTC): written as DuckDB's plain TIMESTAMP, the
    type the DuckDB SQL gives."""
    import pyarrow as pa

    columns = [c.cast(pa.timestamp(c.type.unit)) if pa.types.is_timestamp(c.type) and c.type.tz else c
               for c in table.columns]
    table = pa.table(columns, names=table.column_names)
    view = "__kontor_from_spark"
    con.register(view, table)
    try:
        query = exp.select("*").from_(exp.to_identifier(view, quoted=True))
        if order:
            query = query.order_by(*order)
        con.execute(render(template(__file__, "temp_table_as" if temporary else "table_as"), table=target, query=query))
    finally:
        con.unregister(view)
