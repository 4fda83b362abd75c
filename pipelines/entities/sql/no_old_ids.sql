-- no golden ids before this run
select cast(null as varchar) as prev_id, 0 as members where false
