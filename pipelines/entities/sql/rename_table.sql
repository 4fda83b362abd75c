-- a table renamed within its schema
alter table :table rename to :new_name
