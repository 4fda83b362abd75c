-- the columns a raw table has so far (sources.yml may have added some since)
select column_name, data_type from information_schema.columns where table_schema = 'raw' and table_name = ?
