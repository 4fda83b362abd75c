-- a review queue without a rank column: in the order the entity stage wrote the items
select item_id, kind, reason, priority, match_probability, golden_ids, members, status
from :queue
order by rowid
