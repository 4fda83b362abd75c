-- per golden id and attribute, the winning record (none where a critical attribute disagrees)
create or replace temp table _winners as
select golden_id, attribute, any_value(case when not critical_conflict then winner_uid end) as unique_id,
       bool_or(critical_conflict) as critical_conflict
from _cand
group by 1, 2
