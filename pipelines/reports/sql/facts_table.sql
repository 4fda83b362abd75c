-- reports.facts: one row per number a report printed (pipelines/reports/store.py; its docstring
-- says what the columns hold). Columns added later are added to older warehouses here.
create schema if not exists reports;
create table if not exists reports.facts (
    report varchar not null,
    period varchar not null,
    version integer not null,
    kpi varchar not null,          -- KPI name, or table:<name> for a table's cells
    measure varchar not null,      -- value, compare_value, delta, delta_pct, zscore, history, member_value, ...
    comparison varchar,            -- previous_period | same_period_last_year | plan
    dimension varchar,             -- driver dimension (e.g. product_group × region), or 'period' for history
    member varchar,                -- driver member, history period, or a table row's first cell
    value double,
    unit varchar,
    sql_file varchar not null,
    computed_at timestamp not null
);
alter table reports.facts add column if not exists sql_sha256 varchar;
alter table reports.facts add column if not exists formula varchar;   -- how a derived figure is computed
alter table reports.facts add column if not exists inputs varchar;    -- its inputs, JSON {name: value}
