-- The golden records merged from the most source records: where duplicates pile up.
with clusters as (

    select 'customer' as entity, name, member_count from entities.customer_golden
    union all
    select 'supplier' as entity, name, member_count from entities.supplier_golden

)

select entity, name, member_count
from clusters
where member_count > 1
order by member_count desc, entity, name
limit 15
