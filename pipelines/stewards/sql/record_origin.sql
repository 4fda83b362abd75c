-- one record as it is now, and its golden id
select s.source_system, s.source_id, s.name_raw, concat_ws(' ', s.street, s.house_number),
       s.postcode, s.city, s.vat_id, s.iban, s.email, s.phone, c.golden_id
from :standardised s left join :clusters c using (unique_id)
where s.unique_id = ?
