-- Orders received (not cancelled), by order date, per region.
select
    report_periods.period_start,
    coalesce(orders.region, 'ohne Region') as region,
    count(*) as value
from report_periods
join marts.fct_orders as orders
    on orders.order_date between report_periods.period_start and report_periods.period_end
    and not coalesce(orders.is_cancelled, false)
group by all
