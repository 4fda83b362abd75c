create or replace temp table _kontor_kpi_rows as
