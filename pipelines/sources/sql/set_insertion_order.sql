-- let DuckDB write rows in any order (false) or keep their order (true)
set preserve_insertion_order = $1
