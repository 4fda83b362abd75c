-- Incoming payments from accounting, latest delivered version per payment.

with source as (

    select * from {{ source('accounting', 'zahlungen') }}

),

latest as (

    -- raw keeps every delivered batch: the newest delivery of a payment wins
    select *
    from source
    where ZahlungsNr is not null
    qualify row_number() over (partition by ZahlungsNr order by _batch_id desc, _line desc) = 1

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
    from latest

)

select * from renamed
