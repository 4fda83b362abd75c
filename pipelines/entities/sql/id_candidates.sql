-- the old ids a cluster could continue, the largest continuations first
select cluster_id, prev_id, count(*) as n
from _members
where prev_id is not null
group by 1, 2
order by n desc, cluster_id, prev_id
