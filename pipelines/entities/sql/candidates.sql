-- one attribute's survivorship candidates: every member's non-empty value, its key, validity and source priority
select m.golden_id, :attribute as attribute, s.unique_id, s.source_system, s.source_id,
       s.updated_at, cast(:value as varchar) as value, cast(:key as varchar) as key, :valid as valid,
       :prio as prio
from _members m join :standardised s using (unique_id)
where (:present)
