-- Merged clusters: golden records built from more than one source record.
select 'customer' as entity, count(*) as value from entities.customer_golden where member_count > 1
union all
select 'supplier' as entity, count(*) as value from entities.supplier_golden where member_count > 1
