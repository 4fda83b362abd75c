-- one system's records in the shared layout (values as written; a postcode without the country
-- prefix of a letter address, 'D-93047', 'A-1010', 'CH-8001'; the country as its ISO code)
select cast(:system as varchar) as source_system, cast(:id as varchar) as source_id,
       :name_raw as name_raw, :name_trunc as name_trunc,
       nullif(trim(:legal_form), '') as legal_form_raw,
       nullif(trim(:street), '') as street_raw, nullif(trim(:house_number), '') as house_raw,
       nullif(regexp_replace(trim(:postcode), '^[A-Za-z]{1,3}\s*-\s*([0-9])', '\1'), '') as postcode, nullif(trim(:city), '') as city_raw,
       :country as country,
       nullif(upper(regexp_replace(:vat_id, '[^A-Za-z0-9]', '', 'g')), '') as vat_raw,
       nullif(upper(regexp_replace(:iban, '[^A-Za-z0-9]', '', 'g')), '') as iban_raw,
       nullif(trim(:email), '') as email, nullif(trim(:phone), '') as phone,
       :updated_at as updated_at,
       nullif(trim(:register_number), '') as register_raw
from :relation
