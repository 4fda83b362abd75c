-- Conflicts: (golden record, attribute) pairs whose sources disagree.
select 'customer' as entity, count(distinct (golden_id, attribute)) as value from entities.customer_conflicts
union all
select 'supplier' as entity, count(distinct (golden_id, attribute)) as value from entities.supplier_conflicts
