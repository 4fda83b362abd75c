select value, reason from :conflicts where golden_id = ? and attribute = ? and won
