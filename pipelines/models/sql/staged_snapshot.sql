-- a snapshot's query, read once
create or replace temporary table __kontor_snapshot as :query
