-- the columns of one database's relations (bound: database, null for the warehouse itself; then
-- schema and table, null for all), in the order `describe` gives them
select schema_name, table_name, column_name, data_type, comment
from duckdb_columns()
where database_name = coalesce($1, current_database())
  and ($2 is null or schema_name = $2) and ($3 is null or table_name = $3)
order by schema_name, table_name, column_index
