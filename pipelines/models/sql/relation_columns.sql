-- a relation's columns and their types, in order
select column_name, data_type from information_schema.columns
where table_schema = ? and table_name = ?
order by ordinal_position
