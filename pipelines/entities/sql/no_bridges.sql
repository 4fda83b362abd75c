-- no records between groups kept apart in this run
select null::varchar as unique_id where false
