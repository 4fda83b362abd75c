-- Splink's scored pairs, each pair once, the smaller id left (on DuckDB and on Spark)
select least(unique_id_l, unique_id_r) as unique_id_l, greatest(unique_id_l, unique_id_r) as unique_id_r,
       match_probability, match_weight,
       case when unique_id_l < unique_id_r then source_system_l else source_system_r end as system_l,
       case when unique_id_l < unique_id_r then source_system_r else source_system_l end as system_r,
       :gammas, match_key
from :predictions
