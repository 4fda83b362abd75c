-- the legal form split off each name of :source (types.CompanyName.split_sql): the longest tail
-- of at most :max_tail words that is a legal form in :lookup, the beginning of one where the
-- system cut the name, or one with a single typo; :folded is the folded name_raw (types.fold)
with t as (
    select source_system, source_id, name_raw, name_trunc, legal_form_raw,
           string_split(trim(regexp_replace(name_raw, '\s+', ' ', 'g')), ' ') as words,
           string_split(trim(regexp_replace(:folded, '[\s"]+', ' ', 'g')), ' ') as tok
    from :source where name_raw is not null
),
tails as (
    select t.source_system, t.source_id, t.name_trunc, k,
           -- 'GmbH & Coo. KG': a typo inside the longest legal form
           regexp_replace(regexp_replace(regexp_replace(array_to_string(tok[-k:], ''), '[&+]', 'und', 'g'),
                                         '[^a-z0-9]', '', 'g'),
                          '^(g?mbh)(u|und)?[a-z]{1,3}kg$', 'gmbhundcokg') as tail_key
    from t, unnest(range(1, least(:max_tail, len(tok) - 1) + 1)) as r(k)
),
typos as (
    -- each distinct tail once, against the full spellings of about its length (a hash join)
    select d.tail_key, l.legal_form
    from (select distinct tail_key, length(tail_key) as n from tails) d
    join (select lf_key, legal_form, unnest([length(lf_key) - 1, length(lf_key), length(lf_key) + 1]) as n
          from :lookup where is_full and length(lf_key) >= :min_fuzzy) l using (n)
    where d.tail_key <> l.lf_key and damerau_levenshtein(d.tail_key, l.lf_key) = 1
),
hits as (
    -- the longest tail that is a legal form (for cut names: the beginning of one), else one
    -- with a single typo ('GmbHH')
    select * from (
        select tails.source_system, tails.source_id, tails.k, l.legal_form, 0 as fuzzy,
               (l.is_full = tails.name_trunc) as pref
        from tails join :lookup as l on l.lf_key = tails.tail_key and (l.is_full or tails.name_trunc)
        union all
        select tails.source_system, tails.source_id, tails.k, f.legal_form, 1, false
        from tails join typos f using (tail_key)
    )
    qualify row_number() over (partition by source_system, source_id order by k desc, fuzzy, pref) = 1
)
select t.source_system, t.source_id, t.name_raw, t.name_trunc, t.legal_form_raw,
       coalesce(h.legal_form, t.legal_form_raw) as legal_form,
       array_to_string(case when h.k is null then t.words else t.words[1:len(t.words) - h.k] end, ' ') as name,
       array_to_string(case when h.k is null then t.tok else t.tok[1:len(t.tok) - h.k] end, ' ') as base
from t left join hits h using (source_system, source_id)
