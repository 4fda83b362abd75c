-- the golden ids some records ($1: their ids) belong to
select distinct golden_id from :clusters where list_contains($1, unique_id)
