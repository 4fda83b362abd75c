-- the tables and views of the warehouse itself (information_schema.tables also lists temporary and
-- attached relations), all or one (bound: schema, schema, name, name; null for all)
select schema_name, name, kind, comment, estimated_size from (
    select schema_name, table_name as name, 'table' as kind, comment, estimated_size from duckdb_tables()
    where database_name = current_database()
    union all
    select schema_name, view_name, 'view', comment, null from duckdb_views()
    where database_name = current_database() and not internal)
where ($1 is null or schema_name = $1) and ($2 is null or name = $2)
order by 1, 2
