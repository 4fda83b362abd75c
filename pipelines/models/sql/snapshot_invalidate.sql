-- invalidate_hard_deletes: the current version of a key that disappeared ends now
update :relation as t set :valid_to = :now
where t.:valid_to is null and not exists (select 1 from __kontor_snapshot as n where :keys)
