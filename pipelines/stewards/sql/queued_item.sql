select golden_ids, members, reason from :queue where item_id = ?
