-- each cluster's smallest member id, the seed of a new golden id
select cluster_id, min(unique_id) from _members group by 1 order by 2
