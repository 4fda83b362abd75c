-- clusters holding a pair kept apart: their members
select cluster_id, unique_id
from _clusters_raw
where cluster_id in (select distinct a.cluster_id
                     from :work.cannot c
                     join _clusters_raw a on a.unique_id = c.unique_id_l
                     join _clusters_raw b on b.unique_id = c.unique_id_r
                     where a.cluster_id = b.cluster_id)
order by 2
