select system || ':' || source_id || ':' || attribute, null::double from :sync_proposals order by 1
