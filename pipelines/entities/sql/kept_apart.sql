-- edges Splink would have merged that a rule kept apart, directly or through a third record
create or replace temp table _kept_apart as
select e.unique_id_l, e.unique_id_r, e.match_probability, coalesce(p.rules, []) as rules,
       coalesce(p.listed, true) as listed
from :work.edges e join _clusters_raw a on a.unique_id = e.unique_id_l
join _clusters_raw b on b.unique_id = e.unique_id_r
left join :work.rule_pairs p on p.unique_id_l = e.unique_id_l and p.unique_id_r = e.unique_id_r
where a.cluster_id <> b.cluster_id and :ruled
