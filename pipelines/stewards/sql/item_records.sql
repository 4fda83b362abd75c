-- the records of the golden records in the bound list, side by side
select c.golden_id, s.unique_id, s.source_system, s.name_raw, s.street_raw, s.postcode, s.city,
       s.vat_id, s.vat_id_valid, s.iban, s.iban_valid, s.email, s.phone, s.updated_at
from :clusters c join :standardised s using (unique_id)
where list_contains(?, c.golden_id)
order by 1, 2
