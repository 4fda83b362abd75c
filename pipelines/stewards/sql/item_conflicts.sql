select golden_id, attribute, value, system, won, reason
from :conflicts
where list_contains(?, golden_id)
order by 1, 2, won desc
