-- Purchasing volume: net amount of purchase orders by order date, per supplier and product group.
with suppliers as (

    select supplier_system, supplier_source_id, supplier_name from marts.bridge_supplier_source

)

select
    report_periods.period_start,
    coalesce(suppliers.supplier_name, po.supplier_system || ':' || po.supplier_source_id) as supplier,
    coalesce(po.product_group || ' ' || po.product_group_name, 'ohne Produktgruppe') as product_group,
    sum(po.net_amount) as value
from report_periods
join marts.fct_purchase_orders as po
    on po.order_date between report_periods.period_start and report_periods.period_end
left join suppliers
    on suppliers.supplier_system = po.supplier_system
    and suppliers.supplier_source_id = po.supplier_source_id
group by all
