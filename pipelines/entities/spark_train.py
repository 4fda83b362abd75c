"""Training the entity model on Spark: ``matching.train`` with Splink's SparkAPI.

:class:`OnSpark` offers the calls ``matching.train`` makes of its engine (``matching.OnDuckDB``
on DuckDB): a linker over the matchable records in Spark's catalog, the counts it guards EM with,
the training rules written for Spark. Splink trains in Spark's dialect (``spark.spark_model``);
the model comes back in DuckDB's (:func:`duckdb_model`): the settings' own SQL at every level,
Spark's estimates of λ, m and u. So the warehouse keeps one kind of model whichever engine trained
it, and a model trained on either engine scores on both. The u probabilities are sampled by the
engine's own random pairs, so a model trained on Spark is close to one trained on DuckDB, not equal.
"""
from __future__ import annotations

import copy
from typing import TYPE_CHECKING, Any

from pipelines.engines.spark_connection import SparkConnection
from pipelines.entities.spark import _condition, spark_linker
from pipelines.entities.spec import EntitySpec

if TYPE_CHECKING:
    from pyspark.sql import SparkSession


def duckdb_model(trained: dict[str, Any], settings: dict[str, Any]) -> dict[str, Any]:
    """A model Splink trained on Spark from ``spark_model(settings)``, in DuckDB's dialect:
    ``trained`` with the SQL of ``settings`` (DuckDB's dialect) at every comparison level and
    blocking rule. The two have the same comparisons and levels in the same order."""
    out = copy.deepcopy(trained)
    out["sql_dialect"] = "duckdb"
    for comparison, ours in zip(out["comparisons"], settings["comparisons"], strict=True):
        for level, our in zip(comparison["comparison_levels"], ours["comparison_levels"], strict=True):
            level["sql_condition"] = our["sql_condition"]
    rules = []
    for rule, ours in zip(out.get("blocking_rules_to_generate_predictions") or [],
                          settings.get("blocking_rules_to_generate_predictions") or [], strict=True):
        ours = {"blocking_rule": ours} if isinstance(ours, str) else ours
        rules.append({**rule, "blocking_rule": ours["blocking_rule"], "sql_dialect": "duckdb"})
    out["blocking_rules_to_generate_predictions"] = rules
    return out


class OnSpark:
    """``matching.train``'s engine on Spark: the standardised records are read from Spark's
    catalog (``entities.<e>_standardised``, as ``standardise_on_spark`` leaves it)."""

    name = "spark"

    def __init__(self, session: "SparkSession", spec: EntitySpec):
        self.session, self.spec = session, spec
        self.connection = SparkConnection(session)
        self.settings: dict[str, Any] | None = None

    def linker(self, splink: Any, settings: dict[str, Any]):
        """A linker on Splink's backend ``splink`` (``SparkEngine.splink()``, on this session)."""
        self.settings = settings
        return spark_linker(splink, self.spec, settings)

    def model(self, linker) -> dict[str, Any]:
        return duckdb_model(linker.misc.save_model_to_json(), self.settings)

    def rule(self, rule: str) -> str:
        return _condition(rule)

    def rows(self, sql: str) -> list[tuple]:
        return self.connection.execute(sql).fetchall()

    def cleanup(self) -> None:
        prefix = f"_kontor_in_{self.spec.name}_"
        for table in self.session.catalog.listTables():
            if table.isTemporary and table.name.startswith(prefix):
                self.session.catalog.dropTempView(table.name)
