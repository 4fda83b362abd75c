drop table :relation
