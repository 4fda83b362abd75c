-- Outgoing invoices from accounting, joined to the ERP order (Auftragsnr) and its customer where
-- possible, with what has been paid and what is still open.

with invoices as (

    select * from {{ ref('stg_accounting__rechnungen') }}

),

orders as (

    select order_no, customer_no, order_date, region from {{ ref('stg_erp__orders') }}

),

customers as (

    select customer_no, region from {{ ref('stg_erp__customers') }}

),

payments as (

    select
        invoice_no,
        count(*) as payment_count,
        sum(amount) as paid_amount,
        max(payment_date) as last_payment_date
    from {{ ref('stg_accounting__zahlungen') }}
    where invoice_no is not null
    group by invoice_no

),

open_items as (

    select invoice_no, open_amount from {{ ref('stg_accounting__offene_posten') }}

),

final as (

    select
        invoices.invoice_no,
        invoices.invoice_date,
        cast(date_trunc('month', invoices.invoice_date) as date) as invoice_month,
        invoices.due_date,
        date_diff('day', invoices.invoice_date, invoices.due_date) as payment_terms_days,
        'accounting' as customer_system,
        cast(invoices.account_no as varchar) as customer_source_id,
        invoices.account_no,
        invoices.order_no,
        orders.order_no is not null as is_matched_to_order,
        orders.order_date,
        orders.customer_no as erp_customer_no,
        coalesce(orders.region, customers.region) as region,
        invoices.net_amount,
        invoices.tax_amount,
        invoices.gross_amount,
        invoices.currency_code,
        coalesce(payments.payment_count, 0) as payment_count,
        cast(coalesce(payments.paid_amount, 0) as decimal(14, 2)) as paid_amount,
        payments.last_payment_date,
        cast(coalesce(open_items.open_amount, 0) as decimal(14, 2)) as open_amount,
        open_items.invoice_no is not null as is_open
    from invoices
    left join orders on orders.order_no = invoices.order_no
    left join customers on customers.customer_no = orders.customer_no
    left join payments on payments.invoice_no = invoices.invoice_no
    left join open_items on open_items.invoice_no = invoices.invoice_no

)

-- the golden customer (entity resolution, models/entities/customer.yml) the record belongs to
select final.*, xref.golden_id as customer_golden_id
from final
left join {{ ref('customer_xref') }} as xref
    on xref.system = final.customer_system and xref.source_id = final.customer_source_id
