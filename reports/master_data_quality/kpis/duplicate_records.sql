-- Duplicates found: source records merged into a golden record that already had one (member_count - 1).
select 'customer' as entity, coalesce(sum(member_count - 1), 0) as value from entities.customer_golden where member_count > 1
union all
select 'supplier' as entity, coalesce(sum(member_count - 1), 0) as value from entities.supplier_golden where member_count > 1
