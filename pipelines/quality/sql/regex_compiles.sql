-- does DuckDB's RE2 compile the pattern?
select regexp_matches('', ?)
