-- source record (system, source id) -> golden id, with match probability and how it was matched
create or replace table :xref as
with best as (   -- per record, its strongest pair inside its own cluster (one pass over the pairs)
    select uid, max(p) as p from (
        select unnest([p.unique_id_l, p.unique_id_r]) as uid, p.match_probability as p
        from :pairs p join _members ml on ml.unique_id = p.unique_id_l
        join _members mr on mr.unique_id = p.unique_id_r and mr.golden_id = ml.golden_id
    ) group by 1
)
select s.source_system as system, s.source_id, s.unique_id, m.golden_id, b.p as match_probability,
       case when sm.unique_id is not null and c.cluster_size > 1 then 'steward'
            when c.cluster_size = 1 then 'singleton' else 'rule' end as matched_by
from _members m join :standardised s using (unique_id)
join (select golden_id, count(*) as cluster_size from _members group by 1) c using (golden_id)
left join best b on b.uid = m.unique_id
left join _steward_merged sm on sm.unique_id = m.unique_id
order by 1, 2
