-- Pending review: items in the steward's review queue with status open.
select 'customer' as entity, count(*) as value from entities.customer_review_queue where status = 'open'
union all
select 'supplier' as entity, count(*) as value from entities.supplier_review_queue where status = 'open'
