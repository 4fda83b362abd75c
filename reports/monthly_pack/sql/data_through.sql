-- The last day the extracts cover: the key date (Stichtag) of the open-items list, else the
-- last order. A month is complete when it ends on or before this day.
select coalesce(
    (select max(key_date) from marts.fct_open_items),
    (select max(order_date) from marts.fct_orders)
)
