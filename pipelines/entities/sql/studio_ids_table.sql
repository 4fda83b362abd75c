-- the clusters the cluster studio shows, with their sizes
create or replace table :ids (golden_id varchar, cluster_size bigint)
