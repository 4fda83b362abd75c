-- a view model: DuckDB binds the query here, so unknown tables and columns fail the build
create or replace view :relation as :query
