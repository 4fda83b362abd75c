-- a decision waiting for a second steward's approval
insert into :review_queue (item_id, kind, reason, priority, golden_ids, match_probability, members, status, run_id,
                           listed_at, cost)
values (?, 'decision', ?, 0, [], null, [], 'pending', ?, now(), null)
