-- Golden records whose IBAN or VAT id fails validation. IBANs are masked: the report shows which
-- record to fix, not the account.
with golden as (

    select 'customer' as entity, name, iban, iban_valid, vat_id, vat_id_valid from entities.customer_golden
    union all
    select 'supplier' as entity, name, iban, iban_valid, vat_id, vat_id_valid from entities.supplier_golden

),

invalid as (

    select entity, name, 'IBAN' as field, left(iban, 4) || ' … ' || right(iban, 4) as value
    from golden
    where iban is not null and not coalesce(iban_valid, false)
    union all
    select entity, name, 'VAT id' as field, vat_id as value
    from golden
    where vat_id is not null and not coalesce(vat_id_valid, false)

)

select * from invalid
order by entity, field, name
limit 30
