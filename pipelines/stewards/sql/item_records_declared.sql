-- the records of the golden records in the bound list, side by side (an entity declared by attributes)
select c.golden_id, s.unique_id, s.source_system, :attributes, s.updated_at
from :clusters c join :standardised s using (unique_id)
where list_contains(?, c.golden_id)
order by 1, 2
