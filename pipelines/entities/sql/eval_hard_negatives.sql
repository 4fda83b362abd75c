-- evaluate: the ground truth's hard negatives (path, entity type), and how many ended in one cluster
with hn as (select true_id_a, true_id_b from read_csv(?, all_varchar = true) where entity_type = ?),
g as (select c.golden_id, t.true_id from :clusters as c join _truth as t using (unique_id))
select (select count(*) from hn),
       (select count(distinct (hn.true_id_a, hn.true_id_b)) from hn
        join g as a on a.true_id = hn.true_id_a join g as b on b.true_id = hn.true_id_b and b.golden_id = a.golden_id)
