-- whether a temporary table of this name exists
select count(*) from duckdb_tables() where temporary and table_name = ?
