-- values as written and matching keys, by the company schema's types; a key that depends on one
-- value (a street with its house number and country, a city, a name in _std_names) is computed
-- once per distinct value and joined back
create or replace temp table _std as
with streets as (
    select c.street_raw, c.house_raw, c.country,
           :street as street, :house_number as house_number, :street_key as street_key
    from (
        select r.*, :house0 as house0, :street0 as street0
        from (select distinct street_raw, house_raw, country from _std_raw) r
    ) c
),
cities as (
    select c.city_raw, nullif(coalesce(a.city_key, c.city0), '') as city_key
    from (select r.city_raw, :city0 as city0 from (select distinct city_raw from _std_raw) r) c
    left join _city_alias a on a.k = c.city0
),
c as (
    select r.*, :dialled as ph
    from _std_raw r
)
select
    c.source_system || ':' || c.source_id as unique_id, c.source_system, c.source_id, c.name_raw, c.street_raw,
    nullif(trim(n.name), '') as name, n.legal_form,
    s.street, s.house_number,
    c.postcode, c.city_raw as city, c.country, c.vat_raw, c.iban_raw, c.email, c.phone, c.updated_at, c.register_raw,
    n.name_key,
    n.name_words,
    c.name_trunc,
    s.street_key,
    y.city_key,
    :phone_key as phone_key,
    :email_key as email_key,
    :email_domain as email_domain
from c
left join _std_names n
    on n.name_raw = c.name_raw and n.name_trunc = c.name_trunc and n.legal_form_raw is not distinct from c.legal_form_raw
left join streets s
    on s.street_raw is not distinct from c.street_raw and s.house_raw is not distinct from c.house_raw
   and s.country is not distinct from c.country
left join cities y on y.city_raw is not distinct from c.city_raw
