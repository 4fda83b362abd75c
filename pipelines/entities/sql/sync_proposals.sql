-- one pass over the records: each system's list of checks, unnested, kept where it proposes a change
create or replace table :sync_proposals as
select system, source_id, model, p.column_name, p.attribute, p.current_value, p.proposed_value, golden_id,
       p.requires_signoff
from (
    select s.source_system as system, s.source_id, :model as model, x.golden_id,
           g.attributes_in_review, unnest(:checks) as p
    from :xref x join :standardised s using (unique_id) join :golden g using (golden_id)
)
where p.proposable and not list_contains(attributes_in_review, p.attribute)
  and coalesce(p.current_value, '') <> p.proposed_value
order by system, source_id, p.attribute
