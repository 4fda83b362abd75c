-- The spot-checked precision of the automatic merges per entity, pooled over the recent weeks
-- (the row with week null that the steward_spot_checks job writes), with its 95 % Wilson
-- interval in percent. No verdict yet: precision and interval stay empty and the note says so.
with pooled as (

    select 'customer' as entity, weeks, judged, precision, low, high from entities.customer_spot_check_precision where week is null
    union all
    select 'supplier' as entity, weeks, judged, precision, low, high from entities.supplier_spot_check_precision where week is null

)

select
    entity,
    weeks,
    judged as verdicts,
    round(100 * precision, 1) as precision_pct,
    round(100 * low, 1) as low_pct,
    round(100 * high, 1) as high_pct,
    case when judged = 0 then 'no_sample' when precision is null then 'only_unsure' end as note
from pooled
order by entity
