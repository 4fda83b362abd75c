-- the review queue in the entity stage's own ranking
select item_id, kind, reason, priority, match_probability, golden_ids, members, status
from :queue
order by rank, rowid
