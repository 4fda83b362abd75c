-- a view over a dbt source read in place (external_location), for the gate of its tests
-- (not temporary: the gate reads it through another cursor); dropped once judged
create schema if not exists kontor;
create or replace view :view as select * from :location
