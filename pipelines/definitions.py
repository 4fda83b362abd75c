"""The one Dagster entry point: every asset, check, job and resource, built from project files.

``dagster dev`` (via ``kontor dev``) and ``kontor run`` load the same ``defs``; nobody keeps a
list of assets by hand. Loading is lazy (``@dg.definitions``), so importing this module reads
neither the environment nor the project files.

A broken file breaks only itself in the UI (``defs``): a model with a problem becomes an asset of
the same key that fails with its ``file:line`` problems (its downstream assets wait on it as
before), a broken entity, expectation or report file becomes one asset under ``problems/`` that
fails the same way, and everything else, the steward jobs included, loads and runs. ``kontor run``
stays strict (``strict=True``): it refuses a broken project before it touches the warehouse.
"""
from __future__ import annotations

from collections.abc import Iterator, Mapping

import dagster as dg

from assets.automation import build_automation
from assets.checks import build_gates
from assets.model_layer import build_model_layer
from assets.entities import build_entity_assets
from assets.models import build_model_assets, build_seed_asset, build_source_assets as build_dbt_source_assets
from assets.reports import build_report_definitions
from assets.resources import WarehouseResource, service_resources
from assets.serving import build_serving_asset
from assets.steward import build_apply, build_spot_checks, build_steward_job
from assets.sources import build_source_assets
from assets.problems import broken_file_asset, broken_model_asset, healthy_models
from pipelines.entities.spec import EntityProject, load_entities
from pipelines.core import parsed
from pipelines.core.errors import Problem, ProjectError
from pipelines.models.compile import CompiledProject, compile_project
from pipelines.models.project import load_models
from pipelines.core.retries import retry_config
from pipelines.sources.options import ingest_options
from pipelines.core.settings import Settings, load_settings
from pipelines.sources.spec import load_sources
from pipelines.quality import stage as quality

ALL_JOB = "kontor_all"


def entity_docs(entities: EntityProject) -> list:
    """The entity stage's tables described (pipelines/entities/docs.py), for the warehouse's comments."""
    from pipelines.entities.docs import INTERNAL, entity_table_docs

    docs = [doc for spec in entities.entities.values() for doc in entity_table_docs(spec.name, spec.declared)]
    return [*docs, *INTERNAL.values()] if docs else []


def compile_models(settings: Settings) -> CompiledProject:
    """Sources and models of the project, compiled; raises ``ProjectError`` listing every problem."""
    parsed.remember_in(settings.target_dir / ".cache" / "sqlglot")
    sources = load_sources(settings.sources_file, settings.relative(settings.sources_file))
    compiled = compile_project(load_models(settings, sources), display=settings.relative, cache_dir=settings.target_dir)
    if compiled.problems:
        raise ProjectError(compiled.problems)
    compiled.cache_dir = settings.target_dir
    return compiled


class _ModelColumns(Mapping):
    """Each model's output columns, inferred only when an entity file asks for them: inference
    runs sqlglot over every model (seconds for 200 models), for nothing in a project without entities."""

    def __init__(self, compiled: CompiledProject):
        self.compiled = compiled

    def __getitem__(self, name: str) -> list[str] | None:
        if name not in self.compiled.models:
            raise KeyError(name)
        return self.compiled.output_columns(name)

    def __iter__(self) -> Iterator[str]:
        return iter(self.compiled.models)

    def __len__(self) -> int:
        return len(self.compiled.models)


def compile_entities(settings: Settings, compiled: CompiledProject) -> EntityProject:
    """Entity files of the project, checked against the models they read; raises on problems."""
    entities = load_entities(settings, _ModelColumns(compiled))
    if entities.problems:
        raise ProjectError(entities.problems)
    return entities


def build_definitions(settings: Settings, strict: bool = True) -> dg.Definitions:
    """Everything of the project. ``strict``: raise ``ProjectError`` on any problem; otherwise each
    broken file becomes an asset that fails with its problems and the rest is built."""
    if strict:
        compiled = compile_models(settings)
        entities = compile_entities(settings, compiled)
        problems: list[Problem] = []
        broken_models: dict[str, list[Problem]] = {}
    else:
        parsed.remember_in(settings.target_dir / ".cache" / "sqlglot")
        sources = load_sources(settings.sources_file, settings.relative(settings.sources_file))
        compiled = compile_project(load_models(settings, sources), display=settings.relative)
        compiled, broken_models, problems = healthy_models(compiled)
        compiled.cache_dir = settings.target_dir
        entities = load_entities(settings, _ModelColumns(compiled))
        problems += entities.problems
    retries = retry_config(settings)
    policy = dg.RetryPolicy(max_retries=retries.max_retries, delay=retries.delay,
                            backoff=dg.Backoff.EXPONENTIAL if retries.backoff == "exponential" else dg.Backoff.LINEAR)
    spark = _on_spark(settings, compiled)
    on_spark = _entity_steps_on_spark(settings) if spark else set()
    built = build_source_assets(compiled.project.sources, policy, ingest_options(settings), spark)
    entity_checks = []
    for spec in entities.entities.values():
        entity_assets, checks = build_entity_assets(spec, compiled, settings, spark, "train" in on_spark, "resolve" in on_spark)
        built += entity_assets
        entity_checks += checks
    suites = quality.load(settings)   # read once for both
    external = build_dbt_source_assets(compiled)    # dbt sources loaded outside the project
    if compiled.project.one_step:
        seeds = [build_seed_asset(s) for s in compiled.project.seeds.values()]
        known = {key for a in [*built, *seeds, *external] for key in a.keys}
        gates_in_step, unit_tests = quality.layer_gates(settings, compiled, suites)
        built = [*built, *seeds, build_model_layer(compiled, gates_in_step, unit_tests, known, settings.target_dir,
                                                   broken_models, spark)]
    else:
        built = [*built, *build_model_assets(compiled),
                 *(broken_model_asset(compiled.project.models[name], found) for name, found in broken_models.items())]
    upstream = [key for a in built for key in a.keys]
    serving = build_serving_asset(upstream, built, entity_docs(entities))
    assets = [*built, serving]
    reports = build_report_definitions(settings, assets, None if strict else problems)
    gates = build_gates(settings, compiled, [*assets, *external], None if strict else problems, suites, spark)
    # a dbt source's tests are checks of an asset no job materialises (it is loaded outside the
    # project): the jobs select them besides the assets, so every run judges them
    checked = dg.AssetSelection.checks_for_assets(*(k for a in external for k in a.keys)) if external else None
    sync_job, sync_schedule, sensors = build_automation(settings, compiled.project.sources, [*assets, *reports.assets],
                                                        checked)
    steward = [build_steward_job(settings)] if entities.entities or not strict else []
    apply_jobs, apply_sensors = build_apply(sorted(entities.entities), serving.key, steward[0]) if steward else ([], [])
    spot_assets, spot_checks, spot_jobs, spot_schedules = build_spot_checks(settings, entities.entities)
    everything = dg.AssetSelection.all() - dg.AssetSelection.groups("steward", "reports")
    by_file: dict[str, list[Problem]] = {}
    for problem in problems:
        by_file.setdefault(problem.file, []).append(problem)
    return dg.Definitions(
        assets=[*assets, *external, *reports.assets, *spot_assets, *(broken_file_asset(file, found) for file, found in by_file.items())],
        asset_checks=[*gates, *entity_checks, *spot_checks],
        # the weekly spot checks run on their schedule, not with every run
        # the reports are partitioned by their periods: each runs in its own job (assets/reports.py)
        jobs=[dg.define_asset_job(ALL_JOB, selection=everything | checked if checked is not None else everything,
                                  description="Everything but the reports: ingest, models, entities, gates, serving copy "
                                              "(kontor run then issues each report in its job report_<name>)."),
              sync_job, *reports.jobs, *steward, *apply_jobs, *spot_jobs],
        schedules=[sync_schedule, *reports.schedules, *spot_schedules],
        sensors=[*sensors, *apply_sensors],
        resources={"warehouse": WarehouseResource.from_settings(settings), **service_resources(settings),
                   **_engine_resources(settings)},
        # DuckDB has one writer per file: steps run in one process, one after another.
        executor=dg.in_process_executor,
    )


def _entity_steps_on_spark(settings: Settings) -> set[str]:
    """The entity steps ``[tool.kontor.spark]`` moves to Spark beside standardising and scoring:
    ``train = true`` (the models), ``resolve = true`` (survivorship and the golden records)."""
    from pipelines.engines.spark_session import spark_config

    config = spark_config(settings)
    return {name for name in ("train", "resolve") if getattr(config, name)}


def _on_spark(settings: Settings, compiled: CompiledProject) -> bool:
    """``[tool.kontor] engine = "spark"``: sources landed in Spark's catalog, the models built and
    gated there, the entities standardised and scored there; the entity stage's other steps stay
    on DuckDB (over the tables copied back), as do the ledger, quarantine, gate evidence and the
    serving copy (``assets/spark.py``)."""
    from pipelines.core.errors import KontorError
    from pipelines.engines.spark_session import engine_name

    if engine_name(settings) != "spark":
        return False
    if not compiled.project.one_step:
        raise KontorError("engine = \"spark\" builds the models in one step; fix: remove models_in_one_step = false "
                          "from [tool.kontor] (or KONTOR_MODELS_IN_ONE_STEP=0 from the environment)")
    return True


def _engine_resources(settings: Settings) -> dict:
    """``spark`` when ``[tool.kontor] engine = "spark"``: the session and engine the assets use."""
    from pipelines.engines.spark_session import engine_name

    if engine_name(settings) != "spark":
        return {}
    from assets.spark import SparkResource

    return {"spark": SparkResource.from_settings(settings)}


@dg.definitions
def defs() -> dg.Definitions:
    from pipelines.run import quiet_dagster_notices

    quiet_dagster_notices()  # the UI's code server: Dagster's beta notes are not the user's to act on
    return build_definitions(load_settings(), strict=False)
