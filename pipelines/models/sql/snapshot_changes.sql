-- the keys whose current version changed, with the new version's start
create or replace temporary table __kontor_changes as
select n.*, :start as __start
from __kontor_snapshot as n
join (select * from :relation where :valid_to is null) as c on :keys
where :changed
