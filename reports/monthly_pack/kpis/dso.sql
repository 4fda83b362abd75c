-- Days sales outstanding: open receivables at period end / gross invoiced in the period × days of
-- the period (count-back-free, period method), per region. The numerator is receivables × days,
-- the denominator gross invoiced: both add up over regions, so the regional contributions do too.
with invoices as (

    select invoice_no, invoice_date, gross_amount, region from marts.fct_invoices

),

payments as (

    select invoice_no, payment_date, amount from marts.fct_payments

),

open_at_end as (

    select
        report_periods.period_start,
        any_value(report_periods.days) as days,
        coalesce(any_value(invoices.region), 'ohne Region') as region,
        any_value(invoices.gross_amount) - coalesce(sum(payments.amount), 0) as open_amount
    from report_periods
    join invoices on invoices.invoice_date <= report_periods.period_end
    left join payments
        on payments.invoice_no = invoices.invoice_no
        and payments.payment_date <= report_periods.period_end
    group by report_periods.period_start, invoices.invoice_no

),

receivables as (

    select period_start, region, sum(open_amount * days) as open_amount_days
    from open_at_end
    group by all

),

invoiced as (

    select report_periods.period_start, coalesce(invoices.region, 'ohne Region') as region, sum(invoices.gross_amount) as gross
    from report_periods
    join invoices on invoices.invoice_date between report_periods.period_start and report_periods.period_end
    group by all

)

select
    coalesce(receivables.period_start, invoiced.period_start) as period_start,
    coalesce(receivables.region, invoiced.region) as region,
    coalesce(receivables.open_amount_days, 0) as value,
    coalesce(invoiced.gross, 0) as denominator
from receivables
full outer join invoiced
    on invoiced.period_start = receivables.period_start
    and invoiced.region = receivables.region
