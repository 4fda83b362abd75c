-- one attribute's candidates ranked by its rules: every candidate's fate where they disagree, the
-- winner alone where they agree
select * from (
    with c0 as (:candidates),
    rarity as (:rarity),
    latest as (:latest),
    -- per golden id and key: how often it occurs, whether a valid candidate has it (aggregates
    -- and joins rather than a window over the candidates)
    k as (select golden_id, key, count(*) as freq, bool_or(valid) as any_valid from c0 group by 1, 2),
    nd as (select golden_id, count(key) filter (where any_valid) as distinct_valid,
                  count(key) as distinct_all from k group by 1),
    c1 as (select c0.*, k.freq, coalesce(r.rarest, 0) as rarest, l.latest
           from c0 join k on k.golden_id = c0.golden_id and k.key is not distinct from c0.key
           left join rarity r using (unique_id) left join latest l using (unique_id)),
    c as (select c1.*, nd.distinct_valid, nd.distinct_all, :rule_cols from c1 join nd using (golden_id)),
    -- only the first two are read (winner, runner-up): the rest is not kept; ordered by the rule
    -- columns of c (:order), each computed once per candidate
    ranked as (select * from (select *, row_number() over (partition by golden_id order by :order) as rank_valid
                              from c where :filter) where rank_valid <= 2),
    w as (select * from ranked where rank_valid = 1),
    second as (select * from ranked where rank_valid = 2)
    select c.golden_id, c.attribute, c.unique_id, c.source_system, c.source_id, c.updated_at, c.value, c.key,
           c.valid, c.distinct_all,
           :critical as critical_conflict,
           w.unique_id as winner_uid, w.key as winner_key,
           case when :critical then 'critical attribute disagrees: sent to review'
                when w.unique_id is null then 'no valid value'
                when c.unique_id = w.unique_id then
                     case when c.distinct_all = 1 then 'all candidates agree'
                          when s2.golden_id is null then 'only valid value'
                          else :runner end
                when not c.valid and :valid_only then 'valid_only'
                when c.key = w.key then 'same value as the winner'
                else :decisive
           end as reason
    from c left join w on w.golden_id = c.golden_id left join second s2 on s2.golden_id = c.golden_id
    -- where all candidates agree, only the winner is kept: nothing to list as a conflict
    where c.distinct_all > 1 or w.unique_id is null or c.unique_id = w.unique_id
)
