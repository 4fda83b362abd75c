-- Attributes whose sources disagree, per entity: how many golden records are affected.
with conflicts as (

    select 'customer' as entity, golden_id, attribute from entities.customer_conflicts
    union all
    select 'supplier' as entity, golden_id, attribute from entities.supplier_conflicts

)

select entity, attribute, count(distinct golden_id) as golden_records
from conflicts
group by all
order by golden_records desc, entity, attribute
