-- every clustered record (no golden ids before)
create or replace temp table _members as
select c.unique_id, c.cluster_id, cast(null as varchar) as prev_id
from :clusters c
