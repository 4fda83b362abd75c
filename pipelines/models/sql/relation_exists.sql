select 1 from information_schema.tables where table_schema = ? and table_name = ?
