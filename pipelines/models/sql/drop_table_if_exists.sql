-- a half-built table left by a failed run
drop table if exists :relation
