-- Open items (receivables) at the key date (Stichtag), latest delivered version per invoice.
-- An open-items list is a full snapshot: an item that is missing from the list of the newest key
-- date has been settled, so only the items of the newest key date are kept.

with source as (

    -- the current state (raw.accounting__offene_posten__current): the newest delivered version per key
    select * from {{ source('accounting', 'offene_posten__current') }}

),

at_key_date as (

    select *
    from source
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
