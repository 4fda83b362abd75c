-- every record with its golden id
create or replace temp table _members as
select m.unique_id, m.prev_id, i.golden_id
from _members m join _ids i on i.cluster_id = m.cluster_id::varchar
