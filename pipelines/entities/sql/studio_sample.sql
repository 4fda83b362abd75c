-- as Splink's by_cluster_size sampling: per size of two or more, the cluster with the smallest
-- greatest member id
select golden_id, cluster_size from (
    select golden_id, any_value(cluster_size) as cluster_size, max(unique_id) as ordering
    from :clusters where cluster_size > 1 group by golden_id)
qualify row_number() over (partition by cluster_size order by ordering) = 1
order by cluster_size
