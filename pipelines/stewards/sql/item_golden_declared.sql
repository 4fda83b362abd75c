-- the golden records in the bound list (an entity declared by attributes)
select golden_id, display_name, :attributes, attributes_in_review
from :golden
where list_contains(?, golden_id)
