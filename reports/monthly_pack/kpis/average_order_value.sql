-- Average order value: net order amount / number of orders (not cancelled), per region.
select
    report_periods.period_start,
    coalesce(orders.region, 'ohne Region') as region,
    sum(orders.net_amount) as value,
    count(*) as denominator
from report_periods
join marts.fct_orders as orders
    on orders.order_date between report_periods.period_start and report_periods.period_end
    and not coalesce(orders.is_cancelled, false)
group by all
