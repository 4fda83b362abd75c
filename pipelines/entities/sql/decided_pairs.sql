create or replace temp table _decided_pairs (a varchar, b varchar)
