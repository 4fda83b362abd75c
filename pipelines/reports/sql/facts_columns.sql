-- reports.facts' columns in one database of the connection (the writer's, or the attached serving copy)
select list(column_name order by column_name)
from duckdb_columns()
where database_name = ? and schema_name = 'reports' and table_name = 'facts'
