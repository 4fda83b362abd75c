-- Invalid VAT ids: golden records whose surviving VAT id fails validation.
select 'customer' as entity, count(*) as value from entities.customer_golden where vat_id is not null and not coalesce(vat_id_valid, false)
union all
select 'supplier' as entity, count(*) as value from entities.supplier_golden where vat_id is not null and not coalesce(vat_id_valid, false)
