-- ERP suppliers, latest delivered version per supplier number.

with source as (

    -- the current state (raw.erp__suppliers__current): the newest delivered version per key
    select * from {{ source('erp', 'suppliers__current') }}

),

cleaned as (

    -- country names and codes to ISO 3166-1 alpha-2 (the postcode rule below needs it)
    select
        *,
        {{ country_iso('country_code') }} as country_iso
    from source

),

renamed as (

    select
        supplier_no,
        nullif(trim(name1), '') as name,
        nullif(trim(name2), '') as name_addition,
        nullif(trim(street), '') as street,
        nullif(trim(house_no), '') as house_no,
        {{ postcode('zip', 'country_iso') }} as postcode,
        nullif(trim(city), '') as city,
        country_iso as country_code,
        {{ compact_code('vat_id') }} as vat_id,
        {{ compact_code('iban') }} as iban,
        nullif(upper(trim(bic)), '') as bic,
        payment_terms_days,
        nullif(lower(trim(email)), '') as email,
        updated_at,
        nullif(trim(register_no), '') as register_no,
        _source_file as source_file,
        _batch_id as batch_id
    from cleaned

)

select * from renamed
