-- per candidate, the newest date among the candidates that spell the same value (keys at most
-- :edits edits apart); equal keys first, and the length test before the edit distance: both are cheap
select a.unique_id, max(coalesce(epoch(b.updated_at), 0)) as latest from c0 a join c0 b
       on a.golden_id = b.golden_id
      and (a.key is not distinct from b.key
           or (abs(length(a.key) - length(b.key)) <= :edits
               and damerau_levenshtein(a.key, b.key) <= :edits))
group by 1
