-- matches a rule of scope 'match' took out whose records no other chain of matches joined
insert into _kept_apart
select w.unique_id_l, w.unique_id_r, w.match_probability, w.rules, w.listed
from :work.weak w join _clusters_raw a on a.unique_id = w.unique_id_l
join _clusters_raw b on b.unique_id = w.unique_id_r
where a.cluster_id <> b.cluster_id
