-- Open items (receivables) at the key date (Stichtag), latest delivered version per invoice.
-- An open-items list is a full snapshot: an item that is missing from the list of the newest key
-- date has been settled, so only the items of the newest key date are kept.

with source as (

    select * from {{ source('accounting', 'offene_posten') }}

),

latest as (

    -- raw keeps every delivered batch: the newest delivery of an open item wins
    select *
    from source
    where Belegnr is not null
    qualify row_number() over (partition by Belegnr order by _batch_id desc, _line desc) = 1

),

at_key_date as (

    select *
    from latest
    where Stichtag is not distinct from (select max(Stichtag) from source)

),

renamed as (

    select
        trim(Belegnr) as invoice_no,
        Konto as account_no,
        Belegdatum as invoice_date,
        Faellig as due_date,
        Offen as open_amount,
        Stichtag as key_date,
        _source_file as source_file,
        _batch_id as batch_id
    from at_key_date

)

select * from renamed
