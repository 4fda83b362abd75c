regexp_replace(:folded, '[^a-z0-9]', '', 'g')
