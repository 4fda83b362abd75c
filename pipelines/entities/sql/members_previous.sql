-- every clustered record with the golden id it had before
create or replace temp table _members as
select c.unique_id, c.cluster_id, x.golden_id as prev_id
from :clusters c left join :xref x on x.unique_id = c.unique_id
