-- every relation's column names and types, as `describe` gives them, in one query
select schema_name, table_name, column_name, data_type
from duckdb_columns()
where database_name = current_database()
order by schema_name, table_name, column_index
