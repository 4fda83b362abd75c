-- the conflict rows say that the steward's value won
update :conflicts set won = (value = ?), reason = case when value = ? then ? else ? end
where golden_id = ? and attribute = ?
