create or replace temp table _steward_merged (unique_id varchar, steward varchar)
