-- open items for data stewards, ranked by what a wrong decision would cost (see golden._review_queue)
create or replace table :review_queue as
with sizes as (select golden_id, count(*) as n from _members group by 1),
impact as (select m.golden_id, :impact as impact
           from _members m join :standardised s using (unique_id) group by 1),
strong as (select ml.golden_id, count(*) as k from :pairs p
           join _members ml on ml.unique_id = p.unique_id_l join _members mr on mr.unique_id = p.unique_id_r
           where ml.golden_id = mr.golden_id and p.match_probability >= :hi group by 1),
chained as (select s.golden_id, s.n from sizes s left join strong k using (golden_id)
            where s.n > :max_size and coalesce(k.k, 0) < s.n * (s.n - 1) / 2),
listed as (select golden_id from _winners where critical_conflict union select golden_id from chained),
members as (select m.golden_id, :member_s as rec
            from _members m semi join listed l on l.golden_id = m.golden_id join :standardised s using (unique_id)),
by_cluster as (select golden_id, list(rec order by rec.unique_id) as recs from members group by 1),
critical as (
    select 'cluster:' || w.golden_id || ':' || w.attribute as item_id, 'cluster' as kind,
           'critical attribute ' || w.attribute || ' disagrees inside the cluster' as reason,
           [w.golden_id] as golden_ids, null::double as match_probability, b.recs as members,
           :chance_critical * 2 * i.impact as cost
    from _winners w join by_cluster b using (golden_id) join impact i using (golden_id) where w.critical_conflict
),
oversized as (
    select 'cluster:' || c.golden_id || ':size', 'cluster',
           'unusual cluster size: ' || c.n || :oversized_reason,
           [c.golden_id], null::double, b.recs, :chance_chain * i.impact
    from chained c join by_cluster b using (golden_id) join impact i using (golden_id)
),
band as (
    select 'pair:' || p.unique_id_l || '|' || p.unique_id_r, 'pair',
           'match probability ' || round(p.match_probability, 3) || :band_reason,
           [ml.golden_id, mr.golden_id] as golden_ids, p.match_probability,
           [:member_l, :member_r], p.match_probability * (il.impact + ir.impact)
    from :pairs p join _members ml on ml.unique_id = p.unique_id_l join _members mr on mr.unique_id = p.unique_id_r
    join :standardised l on l.unique_id = p.unique_id_l join :standardised r on r.unique_id = p.unique_id_r
    join impact il on il.golden_id = ml.golden_id join impact ir on ir.golden_id = mr.golden_id
    where p.match_probability >= :lo and p.match_probability < :hi and ml.golden_id <> mr.golden_id
      -- a rule that says they are different entities settles it, unless its review_when holds
      and (len(:fired) = 0 or :listed)
    -- one item per two golden records: their strongest pair in the band
    qualify row_number() over (partition by least(ml.golden_id, mr.golden_id), greatest(ml.golden_id, mr.golden_id)
                               order by p.match_probability desc, p.unique_id_l, p.unique_id_r) = 1
),
kept_apart as (
    -- Splink would have merged them, a distinct_when rule says they are different entities: one
    -- item per two golden records (their strongest match, the rules of every pair between them)
    select 'pair:' || k.unique_id_l || '|' || k.unique_id_r, 'pair',
           'conflicting evidence: match probability ' || round(k.match_probability, 3) || ' but '
           || coalesce(nullif(array_to_string(list_sort(list_distinct(flatten(list(k.rules) over golden_pair))), ', '), ''),
                       'a rule between their clusters')
           || ': kept apart',
           [ml.golden_id, mr.golden_id] as golden_ids, k.match_probability,
           [:member_l, :member_r], :chance_conflict * (il.impact + ir.impact)
    from :kept k join _members ml on ml.unique_id = k.unique_id_l join _members mr on mr.unique_id = k.unique_id_r
    join :standardised l on l.unique_id = k.unique_id_l join :standardised r on r.unique_id = k.unique_id_r
    join impact il on il.golden_id = ml.golden_id join impact ir on ir.golden_id = mr.golden_id
    where k.listed and ml.golden_id <> mr.golden_id
      -- a record matching into several groups is one item (ambiguous), not one per match
      and (len(k.rules) > 0 or (k.unique_id_l not in (select unique_id from :bridges)
                                and k.unique_id_r not in (select unique_id from :bridges)))
    window golden_pair as (partition by least(ml.golden_id, mr.golden_id), greatest(ml.golden_id, mr.golden_id))
    qualify row_number() over (partition by least(ml.golden_id, mr.golden_id), greatest(ml.golden_id, mr.golden_id)
                               order by k.match_probability desc, k.unique_id_l, k.unique_id_r) = 1
),
bridge_edges as (
    select b.unique_id as bridge, case when k.unique_id_l = b.unique_id then k.unique_id_r else k.unique_id_l end as other,
           k.match_probability
    from :kept k join :bridges b on b.unique_id in (k.unique_id_l, k.unique_id_r)
    where len(k.rules) = 0      -- the candidates: clusters the record has no rule against
),
bridge_best as (   -- per bridge, its strongest match in each cluster it matches into
    select e.bridge, m.golden_id, arg_max(e.other, e.match_probability) as other, max(e.match_probability) as p
    from bridge_edges e join _members m on m.unique_id = e.other group by 1, 2
),
ambiguous as (
    select 'record:' || b.bridge || ':ambiguous', 'record',
           'matches ' || count(*) || ' golden records that are kept apart (different entities by a rule): which one is it, '
           || 'if any?',
           list_prepend(any_value(mb.golden_id), list(b.golden_id order by b.golden_id)), max(b.p),
           list_prepend(any_value(:member_sb), list(:member_so order by b.golden_id)),
           :chance_conflict * (any_value(ib.impact) + sum(io.impact))
    from bridge_best b join _members mb on mb.unique_id = b.bridge join :standardised sb on sb.unique_id = b.bridge
    join :standardised so on so.unique_id = b.other join impact ib on ib.golden_id = mb.golden_id
    join impact io on io.golden_id = b.golden_id
    group by b.bridge
),
nameless as (
    select 'record:' || s.unique_id, 'record', 'no usable name: kept as its own golden record, not matched',
           [m.golden_id], null::double, [:member_s], :chance_nameless * i.impact
    from :standardised s join _members m using (unique_id) join impact i on i.golden_id = m.golden_id
    where not (:matchable)
),
items as (select * from critical union all select * from oversized
          -- two golden records listed as kept apart are not listed again for a weaker pair in the band
          union all select * from band b where not exists (select 1 from kept_apart k
                                                           where list_sort(k.golden_ids) = list_sort(b.golden_ids))
          union all select * from kept_apart union all select * from ambiguous union all select * from nameless)
select item_id, kind, reason, row_number() over (order by cost desc, item_id)::integer as priority, golden_ids,
       match_probability, members, 'open' as status, :run_id as run_id, now() as listed_at,
       round(cost, 3) as cost
from items
order by priority
