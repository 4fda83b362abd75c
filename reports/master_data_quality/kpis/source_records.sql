-- Source records that entity resolution linked to a golden record (one xref row each).
select 'customer' as entity, count(*) as value from entities.customer_xref 
union all
select 'supplier' as entity, count(*) as value from entities.supplier_xref 
