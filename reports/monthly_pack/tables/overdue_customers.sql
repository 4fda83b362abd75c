-- Customers with the most receivables more than 30 days past due at the end of the period.
with open_items as (

    select
        any_value(invoices.customer_system) as customer_system,
        any_value(invoices.customer_source_id) as customer_source_id,
        any_value(invoices.due_date) as due_date,
        any_value(invoices.gross_amount) - coalesce(sum(payments.amount), 0) as open_amount
    from marts.fct_invoices as invoices
    left join marts.fct_payments as payments
        on payments.invoice_no = invoices.invoice_no
        and payments.payment_date <= $period_end
    where invoices.invoice_date <= $period_end
    group by invoices.invoice_no

),

customers as (

    select customer_system, customer_source_id, customer_key, customer_name from marts.bridge_customer_source

)

select
    any_value(coalesce(customers.customer_name, open_items.customer_source_id)) as customer,
    count(*) as overdue_invoices,
    sum(open_items.open_amount) as overdue_amount,
    max(date_diff('day', open_items.due_date, $period_end::date)) as max_days_overdue
from open_items
left join customers
    on customers.customer_system = open_items.customer_system
    and customers.customer_source_id = open_items.customer_source_id
where open_items.open_amount > 0 and date_diff('day', open_items.due_date, $period_end::date) > 30
group by coalesce(customers.customer_key, open_items.customer_system || ':' || open_items.customer_source_id)
order by overdue_amount desc, customer
limit 10
