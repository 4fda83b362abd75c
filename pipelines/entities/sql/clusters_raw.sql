-- Splink's clusters, every record with its cluster id
create or replace temp table _clusters_raw as
select unique_id, cluster_id::varchar as cluster_id from :clusters
