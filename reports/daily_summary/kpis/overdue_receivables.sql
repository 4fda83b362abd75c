-- Receivables more than 30 days past due at the end of the day, rebuilt from invoices and
-- payments (as in the monthly pack), per region.
with open_at_end as (

    select
        report_periods.period_start,
        any_value(report_periods.period_end) as period_end,
        any_value(invoices.due_date) as due_date,
        any_value(invoices.region) as region,
        any_value(invoices.gross_amount) - coalesce(sum(payments.amount), 0) as open_amount
    from report_periods
    join marts.fct_invoices as invoices on invoices.invoice_date <= report_periods.period_end
    left join marts.fct_payments as payments
        on payments.invoice_no = invoices.invoice_no
        and payments.payment_date <= report_periods.period_end
    group by report_periods.period_start, invoices.invoice_no

)

select
    period_start,
    coalesce(region, 'ohne Region') as region,
    sum(open_amount) as value
from open_at_end
where open_amount <> 0 and date_diff('day', due_date, period_end) > 30
group by all
