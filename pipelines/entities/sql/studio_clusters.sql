-- each clustered record with its cluster id and the columns the studio shows
create or replace table :clusters as
select c.cluster_id, r.* from :assigned as c join :records as r using (unique_id)
