-- the temporary views whose name is `like` the pattern
select view_name from duckdb_views() where temporary and view_name like ?
