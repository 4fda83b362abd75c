update :golden set display_name = :display_name where golden_id = ?
