-- a scratch table of record pairs (must-link, cannot-link)
create table :table (unique_id_l varchar, unique_id_r varchar)
