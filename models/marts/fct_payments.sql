-- Incoming payments with the invoice they settle: days to pay and days late.

with payments as (

    select * from {{ ref('stg_accounting__zahlungen') }}

),

invoices as (

    select * from {{ ref('fct_invoices') }}

),

final as (

    select
        payments.payment_no,
        payments.payment_date,
        cast(date_trunc('month', payments.payment_date) as date) as payment_month,
        -- joins to entities.customer_xref once entity resolution lands
        'accounting' as customer_system,
        cast(payments.account_no as varchar) as customer_source_id,
        payments.account_no,
        payments.invoice_no,
        payments.amount,
        invoices.invoice_date,
        invoices.due_date,
        date_diff('day', invoices.invoice_date, payments.payment_date) as days_to_pay,
        greatest(date_diff('day', invoices.due_date, payments.payment_date), 0) as days_late,
        coalesce(payments.payment_date > invoices.due_date, false) as is_late,
        invoices.order_no,
        invoices.erp_customer_no,
        invoices.region
    from payments
    left join invoices on invoices.invoice_no = payments.invoice_no

)

select * from final
