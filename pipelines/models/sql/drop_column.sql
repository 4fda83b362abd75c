-- on_schema_change sync_all_columns: a column the query no longer has
alter table :relation drop column :column
