-- a model of the empty catalog: a view over its compiled SQL, which DuckDB binds without data
create view :relation as :query
