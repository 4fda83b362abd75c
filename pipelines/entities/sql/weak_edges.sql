-- matches a distinct_when rule of scope 'match' fires on: out of the edges (they join nothing by
-- themselves), kept to be listed for review if their records end in different clusters
create table :work.weak as
with f as materialized (
    select e.unique_id_l, e.unique_id_r, e.match_probability, :flags
    from :work.edges e join :standardised l on l.unique_id = e.unique_id_l
    join :standardised r on r.unique_id = e.unique_id_r
)
select * from (select unique_id_l, unique_id_r, match_probability, :fired as rules, :listed as listed from f)
where len(rules) > 0
