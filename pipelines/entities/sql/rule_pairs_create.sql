-- pairs inside one cluster on which a distinct_when rule fires
create or replace table :work.rule_pairs (unique_id_l varchar, unique_id_r varchar, rules varchar[], listed boolean)
