-- Outgoing invoices (Ausgangsrechnungen) from accounting, latest delivered version per invoice.

with source as (

    select * from {{ source('accounting', 'rechnungen') }}

),

latest as (

    -- raw keeps every delivered batch: the newest delivery of an invoice wins
    select *
    from source
    where Belegnr is not null
    qualify row_number() over (partition by Belegnr order by _batch_id desc, _line desc) = 1

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
    from latest

)

select * from renamed
