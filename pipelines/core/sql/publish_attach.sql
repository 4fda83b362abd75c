-- the serving copy, built beside the old one, in the running DuckDB's own format
attach ? as kontor_publish
