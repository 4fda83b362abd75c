-- Open receivables at the key date (Stichtag) with days overdue and ageing bucket.

with open_items as (

    select * from {{ ref('stg_accounting__offene_posten') }}

),

invoices as (

    select * from {{ ref('fct_invoices') }}

),

aged as (

    select
        open_items.invoice_no,
        'accounting' as customer_system,
        cast(open_items.account_no as varchar) as customer_source_id,
        open_items.account_no,
        coalesce(open_items.invoice_date, invoices.invoice_date) as invoice_date,
        coalesce(open_items.due_date, invoices.due_date) as due_date,
        open_items.key_date,
        open_items.open_amount,
        invoices.gross_amount,
        greatest(
            date_diff('day',
                      coalesce(open_items.due_date, invoices.due_date, open_items.key_date),
                      open_items.key_date),
            0
        ) as days_overdue,
        invoices.order_no,
        invoices.erp_customer_no,
        invoices.region
    from open_items
    left join invoices on invoices.invoice_no = open_items.invoice_no

),

final as (

    select
        *,
        case
            when days_overdue <= 0 or days_overdue is null then 'not due'
            when days_overdue <= 30 then '1-30'
            when days_overdue <= 60 then '31-60'
            when days_overdue <= 90 then '61-90'
            else '>90'
        end as ageing_bucket,
        case
            when days_overdue <= 0 or days_overdue is null then 0
            when days_overdue <= 30 then 1
            when days_overdue <= 60 then 2
            when days_overdue <= 90 then 3
            else 4
        end as ageing_bucket_order
    from aged

)

-- the golden customer (entity resolution, models/entities/customer.yml) the record belongs to
select final.*, xref.golden_id as customer_golden_id
from final
left join {{ ref('customer_xref') }} as xref
    on xref.system = final.customer_system and xref.source_id = final.customer_source_id
