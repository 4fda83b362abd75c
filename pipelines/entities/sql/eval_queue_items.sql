-- queue figures: each open review item, with how many true entities and records its members are
with q as (select item_id, kind, priority, golden_ids, members from :queue where status = 'open'),
m as (select q.item_id, q.kind, q.priority, unnest(q.members).unique_id as unique_id from q)
select m.item_id, any_value(m.kind), any_value(m.priority), count(distinct t.true_id), count(*)
from m join _truth as t using (unique_id) group by 1 order by any_value(m.priority), 1
