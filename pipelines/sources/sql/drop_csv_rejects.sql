-- what an earlier CSV scan rejected
drop table if exists _kontor_rejects;
drop table if exists _kontor_rejects_scan
