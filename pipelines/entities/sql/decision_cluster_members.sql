-- every record of the clusters some records ($1: their ids) belong to: what a split leaves behind
select unique_id from :clusters
where golden_id in (select golden_id from :clusters where list_contains($1, unique_id))
