-- whether the table (bound: schema, name) exists
select count(*) from duckdb_tables() where schema_name = ? and table_name = ?
