select schema_name from duckdb_schemas() where database_name = current_database()
