-- the schemas of the warehouse itself (not temporary or attached ones)
select schema_name from duckdb_schemas() where database_name = current_database()
