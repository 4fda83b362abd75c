-- one database of the connection (bound: its name, null for the warehouse itself): its file, the
-- storage format it is written in (e.g. v1.4.0+), and the running DuckDB's version
select path, tags['storage_version'], (select library_version from pragma_version())
from duckdb_databases() where database_name = coalesce($1, current_database())
