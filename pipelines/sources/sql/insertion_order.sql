-- whether DuckDB keeps the order rows are written in (preserve_insertion_order)
select cast(current_setting('preserve_insertion_order') as boolean)
