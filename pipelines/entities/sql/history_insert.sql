-- history: ids that appear, continue elsewhere, or disappear
insert into :history
with flows as (select prev_id, golden_id, count(*) as n from _members where prev_id is not null group by 1, 2),
prev_ids as (select distinct prev_id from _members where prev_id is not null),
old as (:old),
now_ids as (select golden_id, count(*) as members from _members group by 1),
events as (
    -- a new id: either from scratch or split off an id that continues elsewhere
    select n.golden_id, case when f.prev_id is null then 'created' else 'split_from' end as event,
           f.prev_id as related_id, n.members
    from now_ids n
    left join (select * from flows qualify row_number() over (partition by golden_id order by n desc, prev_id) = 1) f
           on f.golden_id = n.golden_id
    where n.golden_id not in (select prev_id from prev_ids) and n.golden_id not in (select prev_id from old)
    union all
    -- an old id that no cluster continues: merged into where most of its members went, or retired
    select o.prev_id, case when f.golden_id is null then 'retired' else 'merged_into' end,
           f.golden_id, o.members
    from old o
    left join (select * from flows qualify row_number() over (partition by prev_id order by n desc, golden_id) = 1) f
           on f.prev_id = o.prev_id
    where o.prev_id not in (select golden_id from now_ids)
)
select ?, now(), golden_id, event, related_id, members, null from events
