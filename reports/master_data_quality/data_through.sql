-- Master data is a state, not a flow: as of its business date, the latest change (updated_at) of
-- the master records the sources delivered, never the time they were loaded.
select cast(max(updated_at) as date)
from (
    select max(updated_at) as updated_at from staging.stg_erp__customers
    union all select max(updated_at) from staging.stg_crm__accounts
    union all select max(updated_at) from staging.stg_accounting__debitoren
    union all select max(updated_at) from staging.stg_erp__suppliers
    union all select max(updated_at) from staging.stg_accounting__kreditoren
)
