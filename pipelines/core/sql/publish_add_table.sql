-- a table the previous serving copy does not have (its definition is checked afterwards)
create table :target as select * from :source
