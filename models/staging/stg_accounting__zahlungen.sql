-- Incoming payments from accounting, latest delivered version per payment.

with source as (

    -- the current state (raw.accounting__zahlungen__current): the newest delivered version per key
    select * from {{ source('accounting', 'zahlungen__current') }}

),

renamed as (

    select
        trim(ZahlungsNr) as payment_no,
        Datum as payment_date,
        Konto as account_no,
        nullif(trim(Belegnr), '') as invoice_no,
        Betrag as amount,
        _source_file as source_file,
        _batch_id as batch_id
    from source

)

select * from renamed
