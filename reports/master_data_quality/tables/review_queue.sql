-- Open review items per entity and kind (cluster, pair, record).
with queue as (

    select 'customer' as entity, kind, status from entities.customer_review_queue
    union all
    select 'supplier' as entity, kind, status from entities.supplier_review_queue

)

select entity, kind, count(*) filter (where status = 'open') as open_items, count(*) as all_items
from queue
group by all
order by entity, kind
