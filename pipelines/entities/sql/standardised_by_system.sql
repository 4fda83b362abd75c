-- the company schema's standardised records per system: no usable name, invalid IBAN, invalid VAT ID
select source_system, count(*), count(*) filter (where name_key is null),
       count(*) filter (where iban_valid = false), count(*) filter (where vat_id_valid = false)
from :standardised
group by 1
order by 1
