"""``kontor check``: validate every project file before any run, as ``file:line: message``."""
from __future__ import annotations

from pipelines.entities.spec import load_entities
from pipelines.errors import Problem, ProjectError
from pipelines.models.compile import check_documented_columns, compile_project
from pipelines.models.project import load_models
from pipelines.quality.checking import check_expectations
from pipelines.reports.spec import check_relations, load_reports
from pipelines.settings import Settings
from pipelines.sources.spec import load_sources


def check_project(settings: Settings) -> tuple[list[Problem], str]:
    try:
        sources = load_sources(settings.sources_file, settings.relative(settings.sources_file))
    except ProjectError as exc:
        return exc.problems, ""
    compiled = compile_project(load_models(settings, sources), display=settings.relative)
    problems = list(compiled.problems)
    if not problems:
        problems += check_documented_columns(compiled)
    entities = load_entities(settings, {name: compiled.output_columns(name) for name in compiled.models})
    problems += entities.problems
    gate_problems, rules = check_expectations(settings, compiled, entities=list(entities.entities))
    problems += gate_problems
    reports, report_problems = load_reports(settings.project_dir)
    problems += report_problems
    known = {cm.model.relation for cm in compiled.models.values()} | {t.raw_table for t in sources.tables}
    problems += check_relations(reports, known)
    systems = {t.system for t in sources.tables}
    summary = (f"{len(systems)} source systems, {len(sources.tables)} source tables, "
               f"{len(compiled.models)} models, {len(compiled.project.seeds)} seeds, "
               f"{len(entities.entities)} entities, {rules} quality rules, {len(reports)} reports: no problems")
    return problems, summary
