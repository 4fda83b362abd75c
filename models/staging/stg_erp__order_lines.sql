-- ERP sales order lines, latest delivered version per order and line number.

with source as (

    -- the current state (raw.erp__order_lines__current): the newest delivered version per key
    select * from {{ source('erp', 'order_lines__current') }}

),

renamed as (

    select
        cast(order_no as varchar) || '-' || cast(line_no as varchar) as order_line_id,
        order_no,
        line_no,
        upper(trim(item_no)) as item_no,
        quantity,
        unit_price,
        discount_pct,
        net_amount,
        _source_file as source_file,
        _batch_id as batch_id
    from source

)

select * from renamed
