-- what defines one database's objects, comments included (bound: the database, null for the
-- warehouse itself): (kind, schema, name, column, definition, comment) per schema, table (its
-- CREATE statement), view, column, index, sequence, macro and type
select 'schema' as kind, schema_name as schema, null as name, null as "column", null as definition, comment
from duckdb_schemas() where database_name = coalesce($1, current_database()) and not internal
union all
select 'table', schema_name, table_name, null, sql, comment from duckdb_tables()
where database_name = coalesce($1, current_database())
union all
select 'view', schema_name, view_name, null, sql, comment from duckdb_views()
where database_name = coalesce($1, current_database()) and not internal
union all
select 'column', schema_name, table_name, column_name, data_type, comment from duckdb_columns()
where database_name = coalesce($1, current_database())
union all
select 'index', schema_name, index_name, null, sql, comment from duckdb_indexes()
where database_name = coalesce($1, current_database())
union all
select 'sequence', schema_name, sequence_name, null,
       concat_ws(' ', start_value, increment_by, min_value, max_value, cycle, last_value), comment
from duckdb_sequences() where database_name = coalesce($1, current_database())
union all
select 'function', schema_name, function_name, null,
       concat_ws(' ', function_type, parameters::varchar, macro_definition), comment
from duckdb_functions() where database_name = coalesce($1, current_database()) and not internal
union all
select 'type', schema_name, type_name, null, logical_type, comment from duckdb_types()
where database_name = coalesce($1, current_database()) and not internal
