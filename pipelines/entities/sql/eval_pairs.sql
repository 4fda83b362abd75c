-- evaluate: record pairs in one cluster that are one entity, pairs in one cluster, pairs of one entity
with j as (select c.golden_id, t.true_id from :clusters as c join _truth as t using (unique_id)),
tp as (select sum(n * (n - 1) / 2) as v from (select count(*) as n from j group by golden_id, true_id)),
pr as (select sum(n * (n - 1) / 2) as v from (select count(*) as n from j group by golden_id)),
tr as (select sum(n * (n - 1) / 2) as v from (select count(*) as n from _truth group by true_id))
select coalesce(tp.v, 0), coalesce(pr.v, 0), coalesce(tr.v, 0) from tp, pr, tr
