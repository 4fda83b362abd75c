-- Splink's own temporary input views, to drop after it
select view_name from duckdb_views() where temporary and view_name like '_kontor_in_%'
