-- records whose golden id changed
select unique_id, prev_id, golden_id from _members where prev_id is distinct from golden_id order by 1
