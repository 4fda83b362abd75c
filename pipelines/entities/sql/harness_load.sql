-- testdata harness: a generated system's extract (path) as a raw table, every column text
create or replace table :table as select * from read_csv(?, all_varchar = true, header = true)
