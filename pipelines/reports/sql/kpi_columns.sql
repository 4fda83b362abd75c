select * from _kontor_kpi_rows limit 0
