-- one record of an entity declared by attributes as it is now, and its golden id
select s.source_system, s.source_id, c.golden_id, :attributes
from :standardised s left join :clusters c using (unique_id)
where s.unique_id = ?
