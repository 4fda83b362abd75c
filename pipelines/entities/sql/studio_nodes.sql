-- every record that is in one of those pairs
create or replace table :nodes as
select unique_id_l as unique_id from :edges
union
select unique_id_r from :edges
