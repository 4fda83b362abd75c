-- a table's rows in their order, as three numbers: equal numbers, the same rows (a changed row,
-- one more or less, another order: other numbers, but for a chance of about 2^-64)
select count(*), sum(hash(rowid, *columns(*))), bit_xor(hash(rowid, *columns(*))) from :relation
