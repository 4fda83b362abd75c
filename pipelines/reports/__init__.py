"""KPI reports: report folders → facts (SQL) → checked narrative (LLM or template) → PDF archive.

The public surface; the rest lives in the submodules (stage, spec, periods, facts, narrative, render,
archive, delivery, store). The issuing names load on first use, so that reading report folders
(``kontor check``) does not load what renders and sends them (DuckDB, Arrow, Jinja, the LLM client).
"""
from pipelines.reports.spec import ReportSpec, find_report, load_report, load_reports

__all__ = ["IssueResult", "ReportSpec", "approve_report", "find_report", "issue_report", "load_report", "load_reports"]


def __getattr__(name: str):
    if name in ("IssueResult", "approve_report", "issue_report"):
        from pipelines.reports import stage

        return getattr(stage, name)
    raise AttributeError(f"module 'pipelines.reports' has no attribute {name!r}")
