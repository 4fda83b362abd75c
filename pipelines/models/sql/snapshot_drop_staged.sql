drop table if exists __kontor_changes;
drop table if exists __kontor_snapshot
