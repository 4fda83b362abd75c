-- Spark: Splink's connected components, each cluster named by its smallest unique_id
select unique_id, min(unique_id) over (partition by cluster_id) as cluster_id
from :clusters
