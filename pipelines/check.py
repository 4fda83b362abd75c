"""``kontor check``: validate every project file before any run, as ``file:line: message``."""
from __future__ import annotations

from pipelines.errors import Problem, ProjectError
from pipelines.settings import Settings
from pipelines.sources.spec import load_sources


def check_project(settings: Settings) -> tuple[list[Problem], str]:
    problems: list[Problem] = []
    try:
        sources = load_sources(settings.sources_file, settings.relative(settings.sources_file))
    except ProjectError as exc:
        return exc.problems, ""
    systems = {t.system for t in sources.tables}
    return problems, f"{len(systems)} source systems, {len(sources.tables)} source tables: no problems"
