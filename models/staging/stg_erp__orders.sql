-- ERP sales order headers, latest delivered version per order.

with source as (

    -- the current state (raw.erp__orders__current): the newest delivered version per key
    select * from {{ source('erp', 'orders__current') }}

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
    from source

)

select * from renamed
