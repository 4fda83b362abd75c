-- every table and view of the warehouse
select table_schema, table_name from information_schema.tables
