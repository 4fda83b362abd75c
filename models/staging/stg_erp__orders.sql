-- ERP sales order headers, latest delivered version per order.

with source as (

    select * from {{ source('erp', 'orders') }}

),

latest as (

    -- raw keeps every delivered batch: the newest delivery of an order wins
    select *
    from source
    where order_no is not null
    qualify row_number() over (partition by order_no order by _batch_id desc, _line desc) = 1

),

renamed as (

    select
        order_no,
        customer_no,
        order_date,
        nullif(trim(region), '') as region,
        -- status as lower-case code: open | delivered | invoiced | cancelled
        nullif(lower(trim(status)), '') as status,
        coalesce(lower(trim(status)) = 'cancelled', false) as is_cancelled,
        coalesce(nullif(upper(trim(currency)), ''), 'EUR') as currency_code,
        updated_at,
        _source_file as source_file,
        _batch_id as batch_id
    from latest

)

select * from renamed
