-- The state store on PostgreSQL (schema kontor_state), run once in one transaction by
-- pipelines/core/state.py. Both history tables are append-only: triggers refuse UPDATE, DELETE
-- and TRUNCATE. The check lists are state.ACTIONS and state.STATUSES; the message is state.APPEND_ONLY.

create schema if not exists kontor_state;

create table if not exists kontor_state.steward_decisions (
        decision_id bigint generated always as identity primary key,
        created_at timestamptz not null default clock_timestamp(),
        entity text not null,
        action text not null check (action in ('merge', 'split', 'distinct', 'choose_value', 'reopen', 'approve')),
        target_ids json not null,
        attribute text,
        value text,
        steward text not null,
        comment text,
        status text not null check (status in ('active', 'pending')),
        approves bigint references kontor_state.steward_decisions (decision_id),
        run_id text);

create index if not exists steward_decisions_entity on kontor_state.steward_decisions (entity, decision_id);

create table if not exists kontor_state.audit_log (
        event_id bigint generated always as identity primary key,
        recorded_at timestamptz not null default clock_timestamp(),
        run_id text,
        actor text not null,
        kind text not null,
        entity text,
        object_id text,
        before json,
        after json,
        detail text);

create index if not exists audit_log_entity_kind on kontor_state.audit_log (entity, kind, event_id);

create table if not exists kontor_state.steward_accounts (
        account_id bigint generated always as identity primary key,
        created_at timestamptz not null default clock_timestamp(),
        name text not null,
        salt text,
        hash text,
        params text,
        created_by text not null);

create table if not exists kontor_state.spot_checks (
        check_id bigint generated always as identity primary key,
        created_at timestamptz not null default clock_timestamp(),
        entity text not null,
        sample text not null,
        kind text not null,
        object_id text not null,
        match_probability double precision,
        detail text,
        verdict text check (verdict in ('correct', 'wrong', 'unsure')),
        answers bigint references kontor_state.spot_checks (check_id),
        steward text,
        decision_id bigint);

create or replace function kontor_state.refuse_change() returns trigger language plpgsql as $$
        begin
            raise exception 'kontor_state.% is append-only: decisions and the audit trail are evidence; record a new decision instead (% refused)', TG_TABLE_NAME, TG_OP;
        end $$;

create or replace trigger steward_decisions_append_only before update or delete on kontor_state.steward_decisions
          for each row execute function kontor_state.refuse_change();

create or replace trigger audit_log_append_only before update or delete on kontor_state.audit_log
          for each row execute function kontor_state.refuse_change();

create or replace trigger steward_accounts_append_only before update or delete on kontor_state.steward_accounts
          for each row execute function kontor_state.refuse_change();

create or replace trigger spot_checks_append_only before update or delete on kontor_state.spot_checks
          for each row execute function kontor_state.refuse_change();

create or replace trigger steward_decisions_no_truncate before truncate on kontor_state.steward_decisions
          for each statement execute function kontor_state.refuse_change();

create or replace trigger audit_log_no_truncate before truncate on kontor_state.audit_log
          for each statement execute function kontor_state.refuse_change();

create or replace trigger steward_accounts_no_truncate before truncate on kontor_state.steward_accounts
          for each statement execute function kontor_state.refuse_change();

create or replace trigger spot_checks_no_truncate before truncate on kontor_state.spot_checks
          for each statement execute function kontor_state.refuse_change();
