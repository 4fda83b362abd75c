"""The one Dagster entry point: every asset, check, job and resource, built from project files.

``dagster dev`` (via ``kontor dev``) and ``kontor run`` load the same ``defs``; nobody keeps a
list of assets by hand. Loading is lazy (``@dg.definitions``), so importing this module reads
neither the environment nor the project files.
"""
from __future__ import annotations

import dagster as dg

from assets.automation import build_automation
from assets.checks import build_gates
from assets.entities import build_entity_assets
from assets.models import build_model_assets
from assets.reports import build_report_definitions
from assets.resources import WarehouseResource
from assets.serving import build_serving_asset
from assets.steward import build_steward_job
from assets.sources import build_source_assets
from pipelines.entities.spec import EntityProject, load_entities
from pipelines.errors import ProjectError
from pipelines.models.compile import CompiledProject, compile_project
from pipelines.models.project import load_models
from pipelines.retries import retry_config
from pipelines.sources.options import ingest_options
from pipelines.settings import Settings, load_settings
from pipelines.sources.spec import load_sources

ALL_JOB = "kontor_all"


def compile_models(settings: Settings) -> CompiledProject:
    """Sources and models of the project, compiled; raises ``ProjectError`` listing every problem."""
    sources = load_sources(settings.sources_file, settings.relative(settings.sources_file))
    compiled = compile_project(load_models(settings, sources), display=settings.relative)
    if compiled.problems:
        raise ProjectError(compiled.problems)
    return compiled


def compile_entities(settings: Settings, compiled: CompiledProject) -> EntityProject:
    """Entity files of the project, checked against the models they read; raises on problems."""
    entities = load_entities(settings, {name: compiled.output_columns(name) for name in compiled.models})
    if entities.problems:
        raise ProjectError(entities.problems)
    return entities


def build_definitions(settings: Settings) -> dg.Definitions:
    compiled = compile_models(settings)
    entities = compile_entities(settings, compiled)
    retries = retry_config(settings)
    policy = dg.RetryPolicy(max_retries=retries.max_retries, delay=retries.delay,
                            backoff=dg.Backoff.EXPONENTIAL if retries.backoff == "exponential" else dg.Backoff.LINEAR)
    built = [*build_source_assets(compiled.project.sources, policy, ingest_options(settings)), *build_model_assets(compiled)]
    entity_checks = []
    for spec in entities.entities.values():
        entity_assets, checks = build_entity_assets(spec, compiled, settings)
        built += entity_assets
        entity_checks += checks
    upstream = [key for a in built for key in a.keys]
    assets = [*built, build_serving_asset(upstream)]
    reports = build_report_definitions(settings, assets)
    sync_job, sync_schedule, sensors = build_automation(settings, compiled.project.sources, [*assets, *reports.assets])
    return dg.Definitions(
        assets=[*assets, *reports.assets],
        asset_checks=[*build_gates(settings, compiled, assets), *entity_checks],
        jobs=[dg.define_asset_job(ALL_JOB, selection=dg.AssetSelection.all(),
                                  description="Everything: ingest, models, entities, gates, serving copy, reports."),
              sync_job, *reports.jobs, *([build_steward_job(settings)] if entities.entities else [])],
        schedules=[sync_schedule, *reports.schedules],
        sensors=sensors,
        resources={"warehouse": WarehouseResource.from_settings(settings)},
        # DuckDB has one writer per file: steps run in one process, one after another.
        executor=dg.in_process_executor,
    )


@dg.definitions
def defs() -> dg.Definitions:
    return build_definitions(load_settings())
