-- the standardised records with the IBAN/VAT-ID checks: invalid ones kept and flagged, only their keys empty
create or replace table :standardised as
select s.unique_id, s.source_system, s.source_id, s.name_raw, s.street_raw, s.name, s.legal_form, s.street, s.house_number,
       s.postcode, s.city, s.country,
       coalesce(v.compact, s.vat_raw) as vat_id, v.valid as vat_id_valid,
       coalesce(i.compact, s.iban_raw) as iban, i.valid as iban_valid,
       s.email, s.phone, s.updated_at,
       s.name_key, s.name_words, s.name_trunc, s.street_key, s.city_key, s.phone_key, s.email_key, s.email_domain,
       case when v.valid then :vat_key end as vat_key,
       case when i.valid then i.compact end as iban_key,
       s.register_raw as register_number,
       case when s.register_raw is not null then :register_valid end as register_number_valid,
       :register_key as register_key
from _std s
left join entities._id_checks v on v.kind = 'vat_id' and v.raw = s.vat_raw
left join entities._id_checks i on i.kind = 'iban' and i.raw = s.iban_raw
order by s.unique_id
