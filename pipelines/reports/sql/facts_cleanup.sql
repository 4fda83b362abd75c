drop table if exists _kontor_kpi_rows;
drop table if exists report_periods
