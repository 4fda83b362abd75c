-- Payments received, by payment date, per region of the invoice paid.
select
    report_periods.period_start,
    coalesce(payments.region, 'ohne Region') as region,
    sum(payments.amount) as value
from report_periods
join marts.fct_payments as payments
    on payments.payment_date between report_periods.period_start and report_periods.period_end
group by all
