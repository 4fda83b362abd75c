-- the records of the sampled resolved clusters (bound: their golden ids) with the golden id as
-- cluster id and the columns the studio shows
create or replace table :clusters as
select c.golden_id as cluster_id, r.*
from :assigned as c join :ids as i on i.golden_id = c.golden_id join :records as r using (unique_id)
