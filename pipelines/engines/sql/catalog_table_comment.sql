-- a table's comment, in any database of the connection
select comment from duckdb_tables() where schema_name = ? and table_name = ?
