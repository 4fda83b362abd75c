-- a seed CSV as Kontor reads it
select * from read_csv(:path, header = true, auto_detect = true)
