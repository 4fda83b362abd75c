-- the serving copy, built beside the old one: a new file in the running DuckDB's own format, or a
-- copy of the previous serving file, which keeps the format it was written in
attach ? as kontor_publish
