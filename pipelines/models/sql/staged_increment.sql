-- an incremental model's new rows
create or replace temporary table __kontor_increment as :query
