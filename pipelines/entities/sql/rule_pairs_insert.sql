-- every pair of a cluster with more than one record, each rule's condition evaluated once per pair
insert into :work.rule_pairs
with multi as (select cluster_id from _clusters_raw group by 1 having count(*) > 1),
m as (select c.cluster_id, s.* from _clusters_raw c semi join multi using (cluster_id)
      join :standardised s using (unique_id)),
f as materialized (
    select l.unique_id as unique_id_l, r.unique_id as unique_id_r, :flags
    from m l join m r on l.cluster_id = r.cluster_id and l.unique_id < r.unique_id
)
select * from (select unique_id_l, unique_id_r, :fired as rules, :listed from f) where len(rules) > 0
