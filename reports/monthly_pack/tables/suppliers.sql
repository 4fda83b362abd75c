-- Purchasing by supplier in the period: volume, share, purchase orders and the price variance to
-- standard cost, with the previous period's volume. Grouped by supplier_key (marts.bridge_supplier_source).
with po as (

    select * from marts.fct_purchase_orders
    where order_date between $previous_start and $period_end

),

suppliers as (

    select supplier_system, supplier_source_id, supplier_key, supplier_name from marts.bridge_supplier_source

),

by_supplier as (

    select
        coalesce(suppliers.supplier_key, po.supplier_system || ':' || po.supplier_source_id) as supplier_key,
        any_value(coalesce(suppliers.supplier_name, po.supplier_source_id)) as supplier,
        count(*) filter (where po.order_date >= $period_start) as purchase_orders,
        sum(po.net_amount) filter (where po.order_date >= $period_start) as volume,
        sum(po.net_amount) filter (where po.order_date <= $previous_end) as previous_volume,
        sum(po.cost_variance) filter (where po.order_date >= $period_start) as variance,
        sum(po.standard_cost_amount) filter (where po.order_date >= $period_start) as standard_cost
    from po
    left join suppliers
        on suppliers.supplier_system = po.supplier_system
        and suppliers.supplier_source_id = po.supplier_source_id
    group by 1

)

select
    supplier,
    purchase_orders,
    volume,
    previous_volume,
    round(volume * 100.0 / sum(volume) over (), 1) as share_pct,
    round(variance * 100.0 / nullif(standard_cost, 0), 1) as variance_pct
from by_supplier
where volume is not null
order by volume desc, supplier
limit 12
