insert into :work.cannot select unique_id_l, unique_id_r from :work.rule_pairs
