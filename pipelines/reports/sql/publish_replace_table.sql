-- the serving copy has no reports.facts yet, or other columns: the writer's table whole
create or replace table kontor_facts_publish.reports.facts as select * from reports.facts
