-- ERP purchase orders (one item per order), latest delivered version per purchase order.

with source as (

    -- the current state (raw.erp__purchase_orders__current): the newest delivered version per key
    select * from {{ source('erp', 'purchase_orders__current') }}

),

renamed as (

    select
        po_no as purchase_order_no,
        supplier_no,
        order_date,
        nullif(upper(trim(item_no)), '') as item_no,
        quantity,
        net_amount,
        _source_file as source_file,
        _batch_id as batch_id
    from source

)

select * from renamed
