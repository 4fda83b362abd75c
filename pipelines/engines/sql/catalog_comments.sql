-- the comments the warehouse's tables, views and columns have (column null: the relation's own)
select schema_name, table_name, null, comment from duckdb_tables() where database_name = current_database()
and comment is not null union all
select schema_name, view_name, null, comment from duckdb_views() where database_name = current_database()
and not internal and comment is not null union all
select schema_name, table_name, column_name, comment from duckdb_columns()
where database_name = current_database() and comment is not null
