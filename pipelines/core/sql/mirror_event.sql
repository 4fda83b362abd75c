select run_id, kind, entity from kontor.audit_log where event_id = ?
