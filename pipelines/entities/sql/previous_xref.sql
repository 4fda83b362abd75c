-- record -> golden id as the audit trail last recorded them (a warehouse rebuilt from scratch)
create or replace temp table _previous_xref (unique_id varchar, golden_id varchar)
