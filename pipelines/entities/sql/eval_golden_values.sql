-- evaluate: per attribute, golden values equal to the true ones (of all, of the reachable), the
-- reachable, and those some member holds exactly; :per_member is a row per attribute and member
with m as (select golden_id, true_id from (
               select c.golden_id, t.true_id, count(*) as n from :clusters as c join _truth as t using (unique_id) group by 1, 2)
           qualify row_number() over (partition by golden_id order by n desc, true_id) = 1),
j as materialized (
    select g.golden_id, :cols from m join :golden as g using (golden_id)
    join _true_golden as t using (true_id) join :clusters as c on c.golden_id = g.golden_id
    join :standardised as s on s.unique_id = c.unique_id),
v as (select attribute, golden_id, any_value(got) as got, any_value(want) as want,
             bool_or(knowable) as knowable, coalesce(bool_or(reachable), false) as reachable,
             coalesce(bool_or(held), false) as held
      from :per_member group by 1, 2)
select attribute, count(*) filter (where got is not distinct from want), count(*),
       count(*) filter (where reachable and got is not distinct from want), count(*) filter (where reachable),
       count(*) filter (where held)
from v where got is not null or (want is not null and knowable) group by 1 order by 1
