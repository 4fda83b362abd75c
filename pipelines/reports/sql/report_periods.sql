-- The periods a report's KPI SQL may join: the report's period, its comparisons and its history
-- (pipelines/reports/facts.py fills it; it is dropped when the facts are computed).
create or replace temp table report_periods (period_key varchar, period_start date, period_end date, days integer)
