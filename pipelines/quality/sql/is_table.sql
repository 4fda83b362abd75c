-- a table (it has rowid) or a view
select count(*) from duckdb_tables() where schema_name = ? and table_name = ?
