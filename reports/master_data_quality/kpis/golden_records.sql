-- Golden records: one per real company after matching and clustering.
select 'customer' as entity, count(*) as value from entities.customer_golden 
union all
select 'supplier' as entity, count(*) as value from entities.supplier_golden 
