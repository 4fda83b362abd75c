-- the audit log copy's table comment: which store it copies
select comment from duckdb_tables() where schema_name = 'kontor' and table_name = 'audit_log'
