-- Receivables open at the end of the period by days past due (rebuilt from invoices and payments,
-- as kpis/receivables.sql; at the key date equal to marts.fct_open_items).
with open_items as (

    select
        invoices.invoice_no,
        any_value(invoices.due_date) as due_date,
        any_value(invoices.gross_amount) - coalesce(sum(payments.amount), 0) as open_amount
    from marts.fct_invoices as invoices
    left join marts.fct_payments as payments
        on payments.invoice_no = invoices.invoice_no
        and payments.payment_date <= $period_end
    where invoices.invoice_date <= $period_end
    group by invoices.invoice_no

),

bucketed as (

    select
        open_amount,
        case
            when date_diff('day', due_date, $period_end::date) <= 0 then 0
            when date_diff('day', due_date, $period_end::date) <= 30 then 1
            when date_diff('day', due_date, $period_end::date) <= 60 then 2
            when date_diff('day', due_date, $period_end::date) <= 90 then 3
            else 4
        end as bucket
    from open_items
    where open_amount <> 0

)

select
    ['nicht fällig', '1–30 Tage', '31–60 Tage', '61–90 Tage', 'über 90 Tage'][bucket + 1] as ageing_bucket,
    count(*) as open_invoices,
    sum(open_amount) as open_amount,
    round(sum(open_amount) * 100.0 / sum(sum(open_amount)) over (), 1) as share_pct
from bucketed
group by bucket
order by bucket
