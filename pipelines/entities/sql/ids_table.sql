create or replace temp table _ids (cluster_id varchar, golden_id varchar)
