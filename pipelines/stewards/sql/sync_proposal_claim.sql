select current_value, proposed_value from :sync_proposals where system = ? and source_id = ? and attribute = ?
