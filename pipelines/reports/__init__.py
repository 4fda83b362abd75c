"""KPI reports: report folders → facts (SQL) → checked narrative (LLM or template) → PDF archive.

The public surface; the rest lives in the submodules (spec, periods, facts, narrative, render,
archive, delivery, store).
"""
from pipelines.reports.issue import IssueResult, approve_report, issue_report
from pipelines.reports.spec import ReportSpec, find_report, load_report, load_reports

__all__ = ["IssueResult", "ReportSpec", "approve_report", "find_report", "issue_report", "load_report", "load_reports"]
