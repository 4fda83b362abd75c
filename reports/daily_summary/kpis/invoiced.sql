-- Invoiced revenue: net amount of outgoing invoices by invoice date, per region.
select
    report_periods.period_start,
    coalesce(invoices.region, 'ohne Region') as region,
    sum(invoices.net_amount) as value
from report_periods
join marts.fct_invoices as invoices
    on invoices.invoice_date between report_periods.period_start and report_periods.period_end
group by all
