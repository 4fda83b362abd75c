-- per candidate, how often its rarest word occurs among the attribute's values; each distinct
-- value is split into words once (many candidates spell a value alike), weighted by its count;
-- the split is kept with the value (v has two readers: the split is not made twice)
with v as (select value, n, regexp_split_to_array(lower(value), '[^a-z0-9äöüß]+') as ws
           from (select value, count(*) as n from c0 group by 1) as g),
words as (select value, n, unnest(ws) as word from v),
corpus as (select word, cast(sum(n) as bigint) as n from words where word <> '' group by 1),
rarest as (select w.value, min(c.n) as rarest from words w join corpus c using (word) group by 1)
select c0.unique_id, r.rarest from c0 join rarest r using (value)
