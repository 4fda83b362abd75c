-- the edges inside clusters holding a pair kept apart, strongest first
select e.unique_id_l, e.unique_id_r
from :work.edges e
join _clusters_raw a on a.unique_id = e.unique_id_l
                    and a.cluster_id in (select distinct a.cluster_id
                                         from :work.cannot c
                                         join _clusters_raw a on a.unique_id = c.unique_id_l
                                         join _clusters_raw b on b.unique_id = c.unique_id_r
                                         where a.cluster_id = b.cluster_id)
join _clusters_raw b on b.unique_id = e.unique_id_r and b.cluster_id = a.cluster_id
order by e.match_probability desc, 1, 2
