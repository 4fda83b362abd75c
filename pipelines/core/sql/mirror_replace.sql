-- a mirror copied whole: the decisions (their status changes), or an audit log of another store
create or replace table :copy as select * from :rows
