-- CRM accounts (customers and prospects), latest delivered version per account.
-- Street and house number stay in one field, as the CRM keeps them.

with source as (

    -- the current state (raw.crm__accounts__current): the newest delivered version per key
    select * from {{ source('crm', 'accounts__current') }}

),

cleaned as (

    -- country names and codes to ISO 3166-1 alpha-2 (the postcode rule below needs it)
    select
        *,
        {{ country_iso('country') }} as country_iso
    from source

),

renamed as (

    select
        upper(trim(account_id)) as account_id,
        nullif(trim(account_name), '') as name,
        nullif(trim(street), '') as street,
        {{ postcode('postal_code', 'country_iso') }} as postcode,
        nullif(trim(city), '') as city,
        country_iso as country_code,
        {{ compact_code('vat_id') }} as vat_id,
        nullif(lower(trim(email)), '') as email,
        nullif(trim(phone), '') as phone,
        nullif(trim(industry), '') as industry,
        nullif(lower(trim(account_type)), '') as account_type,
        created_at,
        modified_at as updated_at,
        _source_file as source_file,
        _batch_id as batch_id
    from cleaned

)

select * from renamed
