-- a steward's merge group is never split by a rule
delete from :work.rule_pairs p using _exempt e where p.unique_id_l = e.a and p.unique_id_r = e.b
