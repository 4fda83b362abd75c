-- a relation of the warehouse itself ('table' or 'view'); information_schema also lists temporary
-- and attached relations
select 'table' from duckdb_tables() where database_name = current_database() and schema_name = $1 and table_name = $2
union all
select 'view' from duckdb_views() where database_name = current_database() and schema_name = $1 and view_name = $2
