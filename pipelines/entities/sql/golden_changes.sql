-- golden records that are new or whose values differ from the previous run's
select g.golden_id, :before, :after, b.golden_id is null
from :golden g left join _golden_before b using (golden_id)
where b.golden_id is null or :changed
order by 1
