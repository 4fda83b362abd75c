-- The state store as a SQLite file, run once in one transaction by pipelines/core/state.py.
-- Triggers refuse UPDATE and DELETE. The check lists are state.ACTIONS and state.STATUSES;
-- the message is state.APPEND_ONLY.

create table if not exists steward_decisions (
        decision_id integer primary key autoincrement,
        created_at text not null default (strftime('%Y-%m-%dT%H:%M:%f+00:00', 'now')),
        entity text not null,
        action text not null check (action in ('merge', 'split', 'distinct', 'choose_value', 'reopen', 'approve')),
        target_ids text not null,
        attribute text,
        value text,
        steward text not null,
        comment text,
        status text not null check (status in ('active', 'pending')),
        approves integer references steward_decisions (decision_id),
        run_id text) strict;

create index if not exists steward_decisions_entity on steward_decisions (entity, decision_id);

create table if not exists audit_log (
        event_id integer primary key autoincrement,
        recorded_at text not null default (strftime('%Y-%m-%dT%H:%M:%f+00:00', 'now')),
        run_id text,
        actor text not null,
        kind text not null,
        entity text,
        object_id text,
        before text,
        after text,
        detail text) strict;

create index if not exists audit_log_entity_kind on audit_log (entity, kind, event_id);

create table if not exists steward_accounts (
        account_id integer primary key autoincrement,
        created_at text not null default (strftime('%Y-%m-%dT%H:%M:%f+00:00', 'now')),
        name text not null,
        salt text,
        hash text,
        params text,
        created_by text not null) strict;

create table if not exists spot_checks (
        check_id integer primary key autoincrement,
        created_at text not null default (strftime('%Y-%m-%dT%H:%M:%f+00:00', 'now')),
        entity text not null,
        sample text not null,
        kind text not null,
        object_id text not null,
        match_probability real,
        detail text,
        verdict text check (verdict in ('correct', 'wrong', 'unsure')),
        answers integer references spot_checks (check_id),
        steward text,
        decision_id integer) strict;

create trigger if not exists steward_decisions_no_update before UPDATE on steward_decisions
          begin select raise(abort, 'steward_decisions is append-only: decisions and the audit trail are evidence; record a new decision instead (UPDATE refused)'); end;

create trigger if not exists steward_decisions_no_delete before DELETE on steward_decisions
          begin select raise(abort, 'steward_decisions is append-only: decisions and the audit trail are evidence; record a new decision instead (DELETE refused)'); end;

create trigger if not exists audit_log_no_update before UPDATE on audit_log
          begin select raise(abort, 'audit_log is append-only: decisions and the audit trail are evidence; record a new decision instead (UPDATE refused)'); end;

create trigger if not exists audit_log_no_delete before DELETE on audit_log
          begin select raise(abort, 'audit_log is append-only: decisions and the audit trail are evidence; record a new decision instead (DELETE refused)'); end;

create trigger if not exists steward_accounts_no_update before UPDATE on steward_accounts
          begin select raise(abort, 'steward_accounts is append-only: decisions and the audit trail are evidence; record a new decision instead (UPDATE refused)'); end;

create trigger if not exists steward_accounts_no_delete before DELETE on steward_accounts
          begin select raise(abort, 'steward_accounts is append-only: decisions and the audit trail are evidence; record a new decision instead (DELETE refused)'); end;

create trigger if not exists spot_checks_no_update before UPDATE on spot_checks
          begin select raise(abort, 'spot_checks is append-only: decisions and the audit trail are evidence; record a new decision instead (UPDATE refused)'); end;

create trigger if not exists spot_checks_no_delete before DELETE on spot_checks
          begin select raise(abort, 'spot_checks is append-only: decisions and the audit trail are evidence; record a new decision instead (DELETE refused)'); end;
