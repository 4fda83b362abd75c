-- entities.<entity>_spot_check_precision: one row per judged week, and the pooled row
create or replace table :precision (
    week varchar, weeks integer, judged integer, correct integer,
    wrong integer, unsure integer, precision double, low double, high double
)
