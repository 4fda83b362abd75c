-- Customers at the grain analysts expect: one row per customer, that is per golden customer from
-- entity resolution (a source record the entity stage has not seen yet is its own customer until
-- the next run). Joining a fact on customer_golden_id = golden_id never multiplies its rows; the
-- source records behind each customer are in bridge_customer_source.

with bridge as (

    select * from {{ ref('bridge_customer_source') }}

),

customers as (

    select
        customer_key,
        any_value(golden_id) as golden_id,
        -- the golden name on every record of a resolved customer; else the record's own
        min(customer_name) as customer_name,
        -- the sales region of an ERP record; of several, the one with the lowest customer number
        arg_min(region, customer_source_id) filter (where region is not null) as region,
        count(*) as source_record_count,
        string_agg(distinct customer_system, ', ' order by customer_system) as systems
    from bridge
    group by customer_key

),

golden as (

    select golden_id, legal_form, postcode, city, country, vat_id
    from {{ ref('customer_golden') }}

)

select
    customers.customer_key,
    customers.golden_id,
    customers.customer_name,
    golden.legal_form,
    golden.postcode,
    golden.city,
    golden.country,
    golden.vat_id,
    customers.region,
    customers.systems,
    customers.source_record_count
from customers
left join golden on golden.golden_id = customers.golden_id
