-- per candidate, the newest date among the candidates that spell the same value (keys at most
-- :edits edits apart), compared per distinct key of a golden id rather than per pair of
-- candidates; equal keys first, and the length test before the edit distance: both are cheap
with keys as (select golden_id, key, max(coalesce(epoch(updated_at), 0)) as newest from c0 group by 1, 2),
near as (
    select a.golden_id, a.key, max(b.newest) as latest from keys a join keys b
           on a.golden_id = b.golden_id
          and (a.key is not distinct from b.key
               or (abs(length(a.key) - length(b.key)) <= :edits
                   -- Levenshtein's distance (5 times cheaper) decides where it can: the edit
                   -- distance with swaps is at most it and at least half of it
                   and (levenshtein(a.key, b.key) <= :edits
                        or (levenshtein(a.key, b.key) <= 2 * :edits and damerau_levenshtein(a.key, b.key) <= :edits))))
    group by 1, 2
)
select c0.unique_id, s.latest from c0 join near s on s.golden_id = c0.golden_id and s.key is not distinct from c0.key
