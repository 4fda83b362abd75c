-- a table of the previous serving copy whose rows changed: emptied, its definition and comments kept
delete from :target
