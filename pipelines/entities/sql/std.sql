-- values as written and matching keys, by the company schema's types
create or replace temp table _std as
with r as (
    select r.*, :house0 as house0, :street0 as street0, :dialled as ph
    from _std_raw r
),
c as (
    select r.*, :city0 as city0
    from r
)
select
    c.source_system || ':' || c.source_id as unique_id, c.source_system, c.source_id, c.name_raw, c.street_raw,
    nullif(trim(n.name), '') as name, n.legal_form,
    :street as street, :house_number as house_number,
    c.postcode, c.city_raw as city, c.country, c.vat_raw, c.iban_raw, c.email, c.phone, c.updated_at, c.register_raw,
    :name_key as name_key,
    :name_words as name_words,
    c.name_trunc,
    :street_key as street_key,
    nullif(coalesce(a.city_key, c.city0), '') as city_key,
    :phone_key as phone_key,
    :email_key as email_key,
    :email_domain as email_domain
from c
left join _std_names n using (source_system, source_id)
left join _city_alias a on a.k = c.city0
