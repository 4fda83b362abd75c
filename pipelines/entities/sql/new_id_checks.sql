-- the IBANs and VAT IDs of _std_raw not checked before
select distinct r.kind, r.raw from (
    select 'iban' as kind, iban_raw as raw from _std_raw union all select 'vat_id', vat_raw from _std_raw
) r anti join entities._id_checks c on c.kind = r.kind and c.raw = r.raw
where r.raw is not null
