-- Invalid IBANs: golden records whose surviving IBAN fails the checksum.
select 'customer' as entity, count(*) as value from entities.customer_golden where iban is not null and not coalesce(iban_valid, false)
union all
select 'supplier' as entity, count(*) as value from entities.supplier_golden where iban is not null and not coalesce(iban_valid, false)
