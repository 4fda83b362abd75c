-- The bridge from customer source records to golden customers: one row per source record (system,
-- source id) with the golden customer's id and name from entity resolution
-- (models/entities/customer.yml). Facts carry customer_system / customer_source_id; reports join
-- here and group by customer_key, the golden id, so one company known to several systems is one
-- customer. One row per golden customer: dim_customer.

with erp as (

    select
        'erp' as customer_system,
        cast(customer_no as varchar) as customer_source_id,
        name as customer_name,
        region
    from {{ ref('stg_erp__customers') }}

),

accounting as (

    select
        'accounting' as customer_system,
        cast(account_no as varchar) as customer_source_id,
        name as customer_name,
        cast(null as varchar) as region
    from {{ ref('stg_accounting__debitoren') }}

),

crm as (

    select
        'crm' as customer_system,
        account_id as customer_source_id,
        name as customer_name,
        cast(null as varchar) as region
    from {{ ref('stg_crm__accounts') }}

),

source_records as (

    select * from erp
    union all
    select * from accounting
    union all
    select * from crm

),

resolved as (

    -- a record the entity stage has not seen yet keeps its own key until the next run
    select
        coalesce(x.golden_id, s.customer_system || ':' || s.customer_source_id) as customer_key,
        x.golden_id,
        s.customer_system,
        s.customer_source_id,
        coalesce(g.display_name, s.customer_name) as customer_name,
        s.region
    from source_records s
    left join {{ ref('customer_xref') }} x
        on x.system = s.customer_system and x.source_id = s.customer_source_id
    left join {{ ref('customer_golden') }} g
        on g.golden_id = x.golden_id

)

select * from resolved
