-- Purchasing by supplier in the period: volume, share and purchase orders, with the previous
-- period's volume. No price variance to standard cost: the demo buys at standard cost (see
-- report.yml); add sum(po.cost_variance) / sum(po.standard_cost_amount) where prices differ. Grouped by supplier_key (marts.bridge_supplier_source).
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
        sum(po.net_amount) filter (where po.order_date <= $previous_end) as previous_volume
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
    round(volume * 100.0 / sum(volume) over (), 1) as share_pct
from by_supplier
where volume is not null
order by volume desc, supplier
limit 12
