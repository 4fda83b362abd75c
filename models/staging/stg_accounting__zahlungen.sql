-- Incoming payments from accounting (DATEV Buchungsstapel), latest delivered version per payment.

with source as (

    -- the current state (raw.accounting__zahlungen__current): the newest delivered version per key
    select * from {{ source('accounting', 'zahlungen__current') }}

),

renamed as (

    select
        trim("Belegfeld 2") as payment_no,
        Belegdatum as payment_date,
        Konto as account_no,
        nullif(trim("Belegfeld 1"), '') as invoice_no,
        -- DATEV's Buchungsstapel: Umsatz is signed from its S/H flag, and a payment received is
        -- credited (H) to the debtor's account, so the amount paid is its negation
        -Umsatz as amount,
        _source_file as source_file,
        _batch_id as batch_id
    from source

)

select * from renamed
