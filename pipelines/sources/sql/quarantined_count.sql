select count(*) from kontor.quarantine where batch_id = ?
