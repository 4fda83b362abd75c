-- no pairs kept apart in this run
select null::varchar as unique_id_l, null::varchar as unique_id_r, null::double as match_probability,
       []::varchar[] as rules, false as listed
where false
