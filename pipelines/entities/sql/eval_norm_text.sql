nullif(trim(regexp_replace(cast(:col as varchar), '\s+', ' ', 'g')), '')
