{#- A DATEV personal-account master (debtors or creditors share one layout): the latest delivered
    version per account, typed columns renamed to English. -#}
{% macro datev_accounts(relation) %}
with source as (

    select * from {{ relation }}

),

cleaned as (

    -- country names and codes to ISO 3166-1 alpha-2 (the postcode rule below needs it)
    select
        *,
        {{ country_iso('Land') }} as country_iso
    from source

),

renamed as (

    select
        Konto as account_no,
        -- DATEV account type from the number range (5 digits, or 6 with a longer Sachkontenlaenge)
        case
            when Konto between 10000 and 69999 or Konto between 100000 and 699999 then 'debtor'
            when Konto between 70000 and 99999 or Konto between 700000 and 999999 then 'creditor'
            else 'general_ledger'
        end as account_type,
        nullif(trim(Name), '') as name,
        nullif(trim(Strasse), '') as street,
        -- the old accounting system keeps PLZ numeric (leading zero lost) and may prefix A-/CH-
        {{ postcode('PLZ', 'country_iso') }} as postcode,
        nullif(trim(Ort), '') as city,
        country_iso as country_code,
        {{ compact_code('UStIdNr') }} as vat_id,
        {{ compact_code('IBAN') }} as iban,
        nullif(upper(trim(BIC)), '') as bic,
        nullif(lower(trim(EMail)), '') as email,
        nullif(trim(Telefon), '') as phone,
        Zahlungsziel as payment_terms_days,
        Kreditlimit as credit_limit,
        GeaendertAm as updated_at,
        _source_file as source_file,
        _batch_id as batch_id
    from cleaned

)

select * from renamed
{% endmacro %}
