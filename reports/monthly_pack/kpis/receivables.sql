-- Open receivables at the end of each period, rebuilt from invoices and payments (gross invoiced
-- up to the day minus paid up to the day), so every month has its own figure; at the key date it
-- equals marts.fct_open_items. Per ageing bucket (days past due at period end), customer, region.
with invoices as (

    select invoice_no, invoice_date, due_date, gross_amount, customer_system, customer_source_id, region
    from marts.fct_invoices

),

payments as (

    select invoice_no, payment_date, amount from marts.fct_payments

),

open_at_end as (

    select
        report_periods.period_start,
        report_periods.period_end,
        invoices.invoice_no,
        any_value(invoices.due_date) as due_date,
        any_value(invoices.customer_system) as customer_system,
        any_value(invoices.customer_source_id) as customer_source_id,
        any_value(invoices.region) as region,
        any_value(invoices.gross_amount) - coalesce(sum(payments.amount), 0) as open_amount
    from report_periods
    join invoices on invoices.invoice_date <= report_periods.period_end
    left join payments
        on payments.invoice_no = invoices.invoice_no
        and payments.payment_date <= report_periods.period_end
    group by all

),

customers as (

    select customer_system, customer_source_id, customer_name from marts.bridge_customer_source

)

select
    open_at_end.period_start,
    case
        when date_diff('day', open_at_end.due_date, open_at_end.period_end) <= 0 then 'nicht fällig'
        when date_diff('day', open_at_end.due_date, open_at_end.period_end) <= 30 then '1–30 Tage'
        when date_diff('day', open_at_end.due_date, open_at_end.period_end) <= 60 then '31–60 Tage'
        when date_diff('day', open_at_end.due_date, open_at_end.period_end) <= 90 then '61–90 Tage'
        else 'über 90 Tage'
    end as ageing_bucket,
    coalesce(customers.customer_name, open_at_end.customer_system || ':' || open_at_end.customer_source_id) as customer,
    coalesce(open_at_end.region, 'ohne Region') as region,
    sum(open_at_end.open_amount) as value
from open_at_end
left join customers
    on customers.customer_system = open_at_end.customer_system
    and customers.customer_source_id = open_at_end.customer_source_id
where open_at_end.open_amount <> 0
group by all
