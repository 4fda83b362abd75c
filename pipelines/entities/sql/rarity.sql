-- per candidate, how often its rarest word occurs among the attribute's values
with words as (select unique_id, unnest(regexp_split_to_array(lower(value), '[^a-z0-9äöüß]+')) as word from c0),
corpus as (select word, count(*) as n from words where word <> '' group by 1)
select w.unique_id, min(c.n) as rarest from words w join corpus c using (word) group by 1
