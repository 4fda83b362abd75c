create or replace temporary table _stage as select * from read_parquet(?)
