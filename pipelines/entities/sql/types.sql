-- The SQL of the attribute types (types.py): one expression per "-- name:", its :placeholders
-- filled by types._sql (an SQL expression of the caller as written, a value as a literal).

-- name: fold
replace(replace(replace(replace(replace(replace(lower(:value), 'ä', 'ae'), 'ö', 'oe'), 'ü', 'ue'), 'ß', 'ss'), 'é', 'e'), 'è', 'e');

-- name: alnum
nullif(regexp_replace(:value, '[^a-z0-9]', '', 'g'), '');

-- name: rule
regexp_replace(:value, :pattern, :replacement, 'g');

-- name: unless_dot
case when :value like '%.%' then :dotted else :undotted end;

-- name: upper_alnum
nullif(upper(regexp_replace(:value, '[^A-Za-z0-9]', '', 'g')), '');

-- name: with_addition
case when :addition is not null and :kept and length(:name) + 1 + length(split_part(:addition, ' ', 1)) > :max_length
     then :name || ' ' || :addition else :name end;

-- name: not_branch
not regexp_matches(lower(:addition), :branch);

-- name: cut
coalesce(length(:name) >= :at, false);

-- name: base_key
nullif(regexp_replace(trim(regexp_replace(:value, '\s+', ' ', 'g')), '[^a-z0-9]', '', 'g'), '');

-- name: words
nullif(list_filter(string_split(trim(regexp_replace(:value, '[^a-z0-9]+', ' ', 'g')), ' '), lambda w: w <> ''), []);

-- name: strip
regexp_replace(:value, :pattern, '');

-- name: street_split
case when :house is null then trim(regexp_replace(:street, :pattern, '')) else :street end;

-- name: house_split
coalesce(:house, nullif(regexp_extract(:street, :pattern, 1), ''));

-- name: house_key
nullif(lower(regexp_replace(:value, '\s', '', 'g')), '');

-- name: blank_null
nullif(:value, '');

-- name: display_in
case when :country in (:countries) then :fixed else :value end;

-- name: city_without_qualifiers
regexp_replace(regexp_replace(regexp_replace(:value, '\s*(/.*|\(.*\))$', ''),
                              '\s+((a|i)\.\s?d\.|a\.|am\s|an der\s|in der\s|im\s).*$', ''), '[^a-z0-9]', '', 'g');

-- name: upper
upper(:value);

-- name: country_upper
nullif(upper(trim(:value)), '');

-- name: country_key
nullif(upper(regexp_replace(:value, '[^A-Za-z]', '', 'g')), '');

-- name: country_valid
regexp_full_match(upper(:value), '[A-Z]{2}');

-- name: register_key
case when regexp_matches(upper(:value), :pattern)
     then regexp_extract(upper(:value), :pattern, ['register', 'number', 'suffix']).register
          || regexp_extract(upper(:value), :pattern, ['register', 'number', 'suffix']).number
          || coalesce(regexp_extract(upper(:value), :pattern, ['register', 'number', 'suffix']).suffix, '') end;

-- name: register_valid
regexp_matches(upper(:value), :pattern);

-- name: email_domain
nullif(case when split_part(lower(:value), '@', 2) in (:freemail) then null else split_part(lower(:value), '@', 2) end, '');

-- name: email_key
nullif(lower(:value), '');

-- name: email_valid
regexp_full_match(:value, '[^@\s]+@[^@\s]+\.[^@\s]+');

-- name: dialled
regexp_replace(regexp_replace(regexp_replace(coalesce(:value, ''), '\(0\)', ''), '-0$', ''), '[^0-9+]', '', 'g');

-- name: national_key
nullif(case when :value like '+%' then substr(:value, 2 + length(case when :value like :home then :cc else substr(:value, 2, 2) end))
            when :value like '00%' then substr(:value, 5) when :value like '0%' then substr(:value, 2) else :value end, '');

-- name: phone_key
nullif(ltrim(regexp_replace(regexp_replace(:value, :home, ''), '[^0-9]', '', 'g'), '0'), '');

-- name: vat_key
regexp_replace(:value, '^(CHE[0-9]{9})(MWST|TVA|IVA|TPV)$', '\1');

-- name: date_parsed
try_strptime(:value, [:formats]);

-- name: date_key
coalesce(strftime(:parsed, '%Y%m%d'), nullif(regexp_replace(:value, '[^0-9]', '', 'g'), ''));

-- name: date_valid
:parsed is not null;

-- name: number_key
cast(try_cast(replace(:value, ',', '.') as double) as varchar);

-- name: person_name_key
-- a folded person name without its affixes (salutations, titles, generation suffixes), letters and digits
nullif(regexp_replace(array_to_string(list_filter(string_split(regexp_replace(replace(:value, '.', ''), '[,;\s]+', ' ', 'g'), ' '),
                                                  w -> not list_contains([:affixes], w)), ''), '[^a-z0-9]', '', 'g'), '');

-- name: person_names_differ
-- two given names of which no word of one is a word of the other as spelled, a typo apart, its
-- beginning (a short form: 'Max', 'Chris'), its end ('Tina' of 'Christina') or a listed short
-- form of it (also with a typo in one of the two: the forms of each, looked up in the map), and not
-- the other record's surname (the two fields swapped)
(:left is not null and :right is not null and damerau_levenshtein(:left, :right) > 1 and not (:swapped)
 and not list_bool_or(list_transform(:words_left, lambda wl: list_bool_or(list_transform(:words_right, lambda wr:
     wl = wr or damerau_levenshtein(wl, wr) <= 1 or jaro_winkler_similarity(wl, wr) >= 0.9
     or (least(length(wl), length(wr)) >= 3 and (starts_with(wl, wr) or starts_with(wr, wl)))
     or (least(length(wl), length(wr)) >= 4 and (ends_with(wl, wr) or ends_with(wr, wl)))
     or coalesce(list_bool_or(list_transform(:short_forms[wl], lambda f: damerau_levenshtein(f, wr) <= 1)), false)
     or coalesce(list_bool_or(list_transform(:short_forms[wr], lambda f: damerau_levenshtein(f, wl) <= 1)), false))))));

-- name: with_short_forms
-- :body with the map of short forms bound to the name short_forms once: it is long (every entry
-- of given_name_short_forms), and a rule on person names names it six times (the two names and
-- the swapped fields, each way round); written out each time it made the rule 99,000 characters
-- that every statement with the rule carries
list_transform([:short_forms], lambda short_forms: :body)[1];

-- name: person_name_swapped
-- one record's name field holds what the other record's other name field holds (:differ: the two
-- names differ as person_names_differ reads them)
(:other is not null and not coalesce(:differ, false));

-- name: person_name_words
-- the words of a folded person name, without its affixes
list_filter(string_split(regexp_replace(replace(coalesce(:value, ''), '.', ''), '[^a-z0-9]+', ' ', 'g'), ' '),
            lambda w: w <> '' and not list_contains([:affixes], w));

-- name: person_name_says
-- whether a folded name holds one of the words (a generation suffix: 'jun', 'sen') after its first
-- word ('Müller jun.', 'Hans jun.'; a given name 'Jun' is no suffix)
list_transform([list_filter(string_split(regexp_replace(coalesce(:value, ''), '[^a-z-]+', ' ', 'g'), ' '), lambda w: w <> '')],
               lambda ws: list_has_any(list_slice(ws, 2, len(ws)), [:words]))[1];

-- name: date_differs
-- two valid dates (keys YYYYMMDD) no typo, day/month swap or neighbouring day explains
(:valid_l and :valid_r and damerau_levenshtein(:left, :right) > 1 and not (:swapped)
 and coalesce(abs(date_diff('day', try_strptime(:left, '%Y%m%d'), try_strptime(:right, '%Y%m%d'))) > 1, true));
