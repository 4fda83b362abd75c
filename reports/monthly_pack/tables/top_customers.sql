-- The ten customers with the most net revenue in the period, with the previous period, their
-- share of all revenue and their margin. Grouped by customer_key (the golden id once entity
-- resolution lands in marts.bridge_customer_source).
with lines as (

    select * from marts.fct_order_lines
    where not is_cancelled and order_date between $previous_start and $period_end

),

customers as (

    select customer_system, customer_source_id, customer_key, customer_name from marts.bridge_customer_source

),

by_customer as (

    select
        coalesce(customers.customer_key, lines.customer_system || ':' || lines.customer_source_id) as customer_key,
        any_value(coalesce(customers.customer_name, lines.customer_source_id)) as customer,
        sum(lines.net_amount) filter (where lines.order_date >= $period_start) as net_revenue,
        sum(lines.net_amount) filter (where lines.order_date <= $previous_end) as previous_revenue,
        sum(lines.margin_amount) filter (where lines.order_date >= $period_start) as margin_amount
    from lines
    left join customers
        on customers.customer_system = lines.customer_system
        and customers.customer_source_id = lines.customer_source_id
    group by 1

)

select
    customer,
    net_revenue,
    previous_revenue,
    round((net_revenue - previous_revenue) * 100.0 / nullif(previous_revenue, 0), 1) as change_pct,
    round(net_revenue * 100.0 / sum(net_revenue) over (), 1) as share_pct,
    round(margin_amount * 100.0 / nullif(net_revenue, 0), 1) as margin_pct
from by_customer
where net_revenue is not null
order by net_revenue desc, customer
limit 10
