-- a dbt project's seed, every column as text first (dbt's type inference follows)
select * from read_csv(:path, header = true, all_varchar = true, delim = :delimiter, quote = '"', escape = '"')
