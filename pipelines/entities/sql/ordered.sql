-- a table copied back from Spark, in the order the DuckDB stage writes it (training samples rows by their order)
create or replace table :table as select * from :table order by :order
