-- the review queue as the asset's metadata shows it: pending approvals first, then by priority
select item_id, reason, match_probability, members, status
from :queue
where status in ('open', 'pending')
order by status = 'open', priority, match_probability desc nulls last, item_id
limit 15
