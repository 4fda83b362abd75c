select coalesce(max(event_id), 0) from kontor.audit_log
