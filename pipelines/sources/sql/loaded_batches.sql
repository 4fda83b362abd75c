-- a table's deliveries that count: loaded, and not every row quarantined (that is an error to fix)
select batch_id from kontor.load_ledger
where system = :system and table_name = :table_name and status = 'loaded' and (rows_loaded > 0 or rows_read = 0)
