-- clusters rebuilt without joining pairs kept apart
update _clusters_raw set cluster_id = r.cluster_id
from _reclustered r
where _clusters_raw.unique_id = r.unique_id
