-- a table model over a table (or none): one statement, so one transaction; DuckDB answers with
-- the number of rows written and keeps the previous table when the query fails
create or replace table :relation as :query
