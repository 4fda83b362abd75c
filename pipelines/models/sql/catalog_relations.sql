select schema_name, table_name, 'table' from duckdb_tables() where database_name = current_database()
union all
select schema_name, view_name, 'view' from duckdb_views() where database_name = current_database() and not internal
