-- whether a table (not a view) of this schema and name exists, in any database of the connection
select count(*) from duckdb_tables() where schema_name = ? and table_name = ?
