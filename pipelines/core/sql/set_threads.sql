set threads = ?
