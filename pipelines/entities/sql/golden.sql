-- one golden record per cluster: each attribute from its winning record
create or replace table :golden as
with g as (
    select w.golden_id, :winners,
           list(distinct w.attribute) filter (where w.critical_conflict) as attributes_in_review
    from _winners w left join :standardised s on s.unique_id = w.unique_id
    left join _unit_fill f on f.golden_id = w.golden_id and f.attribute = w.attribute
    group by 1
),
m as (select m.golden_id, count(*) as member_count, list(distinct s.source_system order by s.source_system) as systems,
             max(s.updated_at) as updated_at
      from _members m join :standardised s using (unique_id) group by 1)
select g.golden_id, :display_name as display_name,
       g.* exclude (golden_id, attributes_in_review), m.member_count, m.systems, m.updated_at,
       coalesce(g.attributes_in_review, []) as attributes_in_review
from m left join g using (golden_id)
order by g.golden_id
