-- Monthly net revenue, cost, margin and orders per product group and region, from the order
-- lines of orders that were not cancelled (by order date).

with lines as (

    select * from {{ ref('fct_order_lines') }}
    where not is_cancelled

),

final as (

    select
        order_month as month_start,
        strftime(order_month, '%Y-%m') as year_month,
        cast(year(order_month) as integer) as year,
        cast(quarter(order_month) as integer) as quarter,
        coalesce(product_group, 'unknown') as product_group,
        max(product_group_name) as product_group_name,
        coalesce(region, 'unknown') as region,
        count(distinct order_no) as orders,
        count(*) as order_lines,
        cast(sum(net_amount) as decimal(18, 2)) as net_revenue,
        cast(sum(cost_amount) as decimal(18, 2)) as cost_amount,
        cast(sum(margin_amount) as decimal(18, 2)) as margin_amount,
        case
            when sum(net_amount) <> 0
                then round(cast(sum(margin_amount) / sum(net_amount) * 100 as double), 2)
        end as margin_pct
    from lines
    group by
        order_month,
        coalesce(product_group, 'unknown'),
        coalesce(region, 'unknown')

)

select * from final
