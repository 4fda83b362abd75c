-- the serving copy's table has the writer's columns: keep it (and the comments on it), swap its rows
delete from kontor_facts_publish.reports.facts;
insert into kontor_facts_publish.reports.facts by name select * from reports.facts
