-- edges Splink would have merged that a rule kept apart, directly or through a third record; an
-- edge without a rule of its own asks for review as the rules between its two clusters do
create or replace temp table _kept_apart as
with ruled as (
    select least(a.cluster_id, b.cluster_id) as c1, greatest(a.cluster_id, b.cluster_id) as c2,
           bool_or(p.listed) as listed
    from :work.rule_pairs p join _clusters_raw a on a.unique_id = p.unique_id_l
    join _clusters_raw b on b.unique_id = p.unique_id_r
    where a.cluster_id <> b.cluster_id group by 1, 2
)
select e.unique_id_l, e.unique_id_r, e.match_probability, coalesce(p.rules, []) as rules,
       coalesce(p.listed, r.listed, true) as listed
from :work.edges e join _clusters_raw a on a.unique_id = e.unique_id_l
join _clusters_raw b on b.unique_id = e.unique_id_r
left join :work.rule_pairs p on p.unique_id_l = e.unique_id_l and p.unique_id_r = e.unique_id_r
left join ruled r on r.c1 = least(a.cluster_id, b.cluster_id) and r.c2 = greatest(a.cluster_id, b.cluster_id)
where a.cluster_id <> b.cluster_id and :ruled
