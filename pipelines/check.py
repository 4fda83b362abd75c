"""``kontor check``: validate every project file before any run, as ``file:line: message``.

A project that passed is remembered in ``target/check.json`` with the fingerprint of what the
check read (``pipelines/core/uptodate.py``: the project's files, Kontor's code, the libraries,
the environment); while that fingerprint holds, ``kontor check`` answers from it without
parsing anything. A project with problems is checked every time.
"""
from __future__ import annotations

import json
import re

from pipelines.core.errors import KontorError, Problem, ProjectError
from pipelines.core.settings import Settings, settings_problems

CHECKED = "check.json"


def check_remembered(settings: Settings) -> tuple[list[Problem], str, bool]:
    """``check_project``, or the remembered verdict of an unchanged project: (problems, summary, remembered)."""
    from pipelines.core.uptodate import project_fingerprint

    taken = project_fingerprint(settings)
    path = settings.target_dir / CHECKED
    try:
        body = json.loads(path.read_text(encoding="utf-8"))
        if body.get("inputs") == taken:
            return [], body["summary"], True
    except (OSError, ValueError, KeyError):
        pass
    problems, summary = check_project(settings, explain=True)
    if not problems:
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(json.dumps({"inputs": taken, "summary": summary}), encoding="utf-8")
        except OSError:
            pass          # a read-only target directory: checked, just not remembered
    return problems, summary, False


def check_project(settings: Settings, explain: bool = False) -> tuple[list[Problem], str]:
    """Every project file checked; ``explain`` (``kontor check`` itself): with ``engine = "spark"``
    every model also planned by a local Spark session (``pipelines/engines/explain.py``)."""
    from pipelines.entities.spec import load_entities
    from pipelines.entities.splink_check import SplinkAnswers
    from pipelines.models.compile import check_documented_columns, compile_project
    from pipelines.models.project import load_models
    from pipelines.quality.checking import check_expectations
    from pipelines.reports.spec import check_relations, load_reports
    from pipelines.core import parsed
    from pipelines.sources.spec import load_sources

    parsed.remember_in(settings.target_dir / ".cache" / "sqlglot")
    try:
        sources = load_sources(settings.sources_file, settings.relative(settings.sources_file))
    except ProjectError as exc:
        return exc.problems, ""
    # Jinja's compiled templates and the models' output columns as the last check or run left them
    compiled = compile_project(load_models(settings, sources), display=settings.relative, cache_dir=settings.target_dir)
    compiled.cache_dir = settings.target_dir
    problems = list(compiled.problems)
    if not problems:
        from pipelines.models.dbt_tests import check_tests   # dbt's data_tests and unit_tests

        problems += check_documented_columns(compiled) + check_tests(compiled, settings.relative)
        problems += engine_problems(settings, compiled, explain)
    entities = load_entities(settings, {name: compiled.output_columns(name) for name in compiled.models},
                             SplinkAnswers(settings.target_dir / ".cache" / "splink_checks.json"))
    problems += entities.problems
    gate_problems, rules = check_expectations(settings, compiled, entities=list(entities.entities))
    problems += gate_problems
    reports, report_problems = load_reports(settings.project_dir)
    problems += report_problems
    known = {cm.model.relation for cm in compiled.models.values()} | {t.raw_table for t in sources.tables}
    problems += check_relations(reports, known)
    problems += check_settings(settings)
    systems = {t.system for t in sources.tables}
    summary = (f"{len(systems)} source systems, {len(sources.tables)} source tables, "
               f"{len(compiled.models)} models, {len(compiled.project.seeds)} seeds, "
               f"{len(entities.entities)} entities, {rules} quality rules, {len(reports)} reports: no problems")
    summary += "".join(f"\nwarning: {w}" for w in compiled.project.warnings)
    return problems, summary


def engine_problems(settings: Settings, compiled, explain: bool = False) -> list[Problem]:
    """``[tool.kontor] engine = "spark"``: its settings read as a run would, and every model
    transpiled to Spark SQL (``file:line`` for what cannot be)."""
    from pipelines.engines.spark_session import engine_name, spark_config

    pyproject = settings.relative(settings.project_dir / "pyproject.toml")
    try:
        if engine_name(settings) != "spark":
            return []
        spark_config(settings)
    except KontorError as exc:
        path = settings.project_dir / "pyproject.toml"
        lines = path.read_text(encoding="utf-8").splitlines() if path.is_file() else []
        # the offending key's line (an unknown key), else the line the setting's section starts
        key = re.search(r"unknown key '([^']+)'", str(exc))
        starts = (key.group(1),) if key else ("[tool.kontor.spark]",) if "[tool.kontor.spark]" in str(exc) else ("engine",)
        line = next((i for i, text in enumerate(lines, 1) if text.strip().startswith(starts)), None)
        return [Problem(pyproject, line, str(exc).removeprefix(f"{pyproject} "))]
    from pipelines.models.on_engine import transpile_problems

    problems = transpile_problems(compiled, settings.relative)
    if explain:
        from pipelines.engines.explain import explain_problems

        problems += explain_problems(compiled)
    return problems


def check_settings(settings: Settings) -> list[Problem]:
    """``[tool.kontor]``: unknown keys and wrong types, the DuckDB memory limit, ``[tool.kontor.alerts]``
    and ``[tool.kontor.retries]``, as a run would read them; each problem on its line."""
    from pipelines.core.alerts import alert_config
    from pipelines.core.retries import retry_config
    from pipelines.engines.connection import connect, set_limits

    pyproject = settings.project_dir / "pyproject.toml"
    lines = pyproject.read_text(encoding="utf-8").splitlines() if pyproject.is_file() else []  # a dbt project may have none

    def line_of(prefix: str) -> int | None:
        return next((i for i, text in enumerate(lines, 1) if text.strip().startswith(prefix)), None)

    problems = settings_problems(settings)
    try:
        with connect() as con:
            set_limits(con, settings.memory_limit, settings.threads)
    except KontorError as exc:
        problems.append(Problem(settings.relative(pyproject), line_of("memory_limit"), str(exc)))
    from pipelines.sources.options import ingest_options

    try:
        ingest_options(settings)
    except KontorError as exc:
        message = str(exc).removeprefix(f"{pyproject} [tool.kontor]: ")
        problems.append(Problem(settings.relative(pyproject), line_of("settle_seconds") or line_of("quarantine_alert_pct"),
                                f"[tool.kontor]: {message}"))

    def stewards(settings: Settings) -> None:
        from pipelines.stewards.identity import steward_settings
        from pipelines.stewards.spotchecks import spot_check_settings

        steward_settings(settings)
        spot_check_settings(settings)

    for section, read in (("alerts", alert_config), ("retries", retry_config), ("stewards", stewards)):
        try:
            read(settings)
        except KontorError as exc:
            message = str(exc).removeprefix(f"{settings.relative(pyproject)} [tool.kontor.{section}]: ")
            problems.append(Problem(settings.relative(pyproject), line_of(f"[tool.kontor.{section}]"),
                                    f"[tool.kontor.{section}]: {message}"))
    return problems
