-- Outgoing invoices (Ausgangsrechnungen) from accounting, latest delivered version per invoice.

with source as (

    -- the current state (raw.accounting__rechnungen__current): the newest delivered version per key
    select * from {{ source('accounting', 'rechnungen__current') }}

),

renamed as (

    select
        trim(Belegnr) as invoice_no,
        Belegdatum as invoice_date,
        Konto as account_no,
        Faellig as due_date,
        Netto as net_amount,
        cast(coalesce(Steuer, Brutto - Netto) as decimal(14, 2)) as tax_amount,
        Brutto as gross_amount,
        coalesce(nullif(upper(trim(Waehrung)), ''), 'EUR') as currency_code,
        Auftragsnr as order_no,
        _source_file as source_file,
        _batch_id as batch_id
    from source

)

select * from renamed
