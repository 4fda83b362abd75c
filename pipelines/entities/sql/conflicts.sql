-- attributes on which a cluster's records disagree: every candidate, whether it won and why
create or replace table :conflicts as
select golden_id, attribute, value, source_system as system, source_id, unique_id, updated_at, valid,
       (unique_id = winner_uid and not critical_conflict) as won, reason
from _cand where distinct_all > 1
order by golden_id, attribute, won desc, system
