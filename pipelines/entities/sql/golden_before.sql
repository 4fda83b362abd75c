-- the golden records of the previous run, to tell what changed
create or replace temp table _golden_before as select * from :golden
