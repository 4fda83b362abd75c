-- every standardised record with the golden id of its cluster (and the id it had before)
create or replace table :clusters as
select m.golden_id, m.unique_id, s.source_system, s.source_id, m.prev_id as previous_golden_id,
       count(*) over (partition by m.golden_id) as cluster_size
from _members m join :standardised s using (unique_id) order by 1, 2
