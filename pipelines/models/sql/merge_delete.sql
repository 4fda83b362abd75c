-- merge: the rows of the keys that arrive go, in the transaction that inserts the new ones
delete from :relation as t where exists (select 1 from __kontor_increment as n where :keys)
