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
-- every string one edit away from a full spelling of at least :min_fuzzy characters (a few
-- thousand per spelling): a letter or digit, the only characters of a tail key, inserted before
-- position i + 1 or put in place of position i, position i left out, or it and the next swapped
pos as (select lf_key, unnest(range(0, length(lf_key) + 1)) as i
        from (select distinct lf_key from :lookup where is_full and length(lf_key) >= :min_fuzzy) f),
pos_ch as (select lf_key, i, unnest(['a', 'b', 'c', 'd', 'e', 'f', 'g', 'h', 'i', 'j', 'k', 'l', 'm', 'n', 'o', 'p', 'q',
                                     'r', 's', 't', 'u', 'v', 'w', 'x', 'y', 'z', '0', '1', '2', '3', '4', '5', '6',
                                     '7', '8', '9']) as ch from pos),
near as (
    select lf_key, substr(lf_key, 1, i) || ch || substr(lf_key, i + 1) as variant from pos_ch
    union all
    select lf_key, substr(lf_key, 1, i - 1) || ch || substr(lf_key, i + 1) from pos_ch where i >= 1
    union all
    select lf_key, substr(lf_key, 1, i - 1) || substr(lf_key, i + 1) from pos where i >= 1
    union all
    select lf_key, substr(lf_key, 1, i - 1) || substr(lf_key, i + 1, 1) || substr(lf_key, i, 1) || substr(lf_key, i + 2)
    from pos where i >= 1 and i < length(lf_key)
),
typos as (
    -- each distinct tail once, found among those strings by a hash join (rather than an edit
    -- distance to every full spelling of about its length), then checked
    select d.tail_key, l.legal_form
    from (select distinct tail_key from tails) d
    join (select distinct lf_key, variant from near) v on v.variant = d.tail_key
    join :lookup l on l.lf_key = v.lf_key
    where l.is_full and length(l.lf_key) >= :min_fuzzy
      and d.tail_key <> l.lf_key and damerau_levenshtein(d.tail_key, l.lf_key) = 1
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
