-- ... and filled with the warehouse's rows (the two tables have the same definition)
insert into :target select * from :source
