-- 0001_init: the whole first schema of regcase on PostgreSQL 15+.
--
-- Run by `regcase migrate` as the OWNER role (it owns every object below).
-- The application connects as a separate LOGIN role that is a member of the
-- NOLOGIN role regcase_app, which this migration creates if it is missing
-- (that needs CREATEROLE; when regcase_app already exists it is reused) and
-- to which it grants only what the application needs: it may read and append
-- to the audit tables, never UPDATE, DELETE or TRUNCATE them.
--
-- Operators create the login role once per cluster, after this migration (or
-- after creating regcase_app themselves):
--
--   CREATE ROLE regcase_api LOGIN PASSWORD '…' IN ROLE regcase_app;
--
-- and give the api DATABASE_URL=postgres://regcase_api:…@host/db.
--
-- Identifiers compared with < or ORDER BY in keyset pagination use
-- COLLATE "C" so that PostgreSQL orders them byte-wise, like SQLite and Go.

DO $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'regcase_app') THEN
        BEGIN
            CREATE ROLE regcase_app NOLOGIN;
        EXCEPTION WHEN duplicate_object OR unique_violation THEN
            NULL; -- created concurrently by another database's migration
        END;
    END IF;
END
$$;

-- Reports: submissions from the public and staff.
CREATE TABLE reports (
    id                  text COLLATE "C" PRIMARY KEY,
    tracking_code       text NOT NULL,
    status_secret_hash  bytea,
    channel             text NOT NULL,
    category            text NOT NULL DEFAULT '',
    subject_name        text NOT NULL DEFAULT '',
    subject_registry_id text NOT NULL DEFAULT '',
    description         text NOT NULL DEFAULT '',
    location            text NOT NULL DEFAULT '',
    occurred_at         timestamptz,
    received_at         timestamptz NOT NULL,
    updated_at          timestamptz NOT NULL,
    status              text NOT NULL,
    dismiss_reason      text NOT NULL DEFAULT '',
    case_id             text COLLATE "C",
    has_reporter        boolean NOT NULL DEFAULT false,
    reporter_cipher     bytea,
    wrapped_key         bytea,
    erased_at           timestamptz,
    idempotency_key     text,
    request_hash        bytea,
    CONSTRAINT reports_tracking_code_key UNIQUE (tracking_code),
    CONSTRAINT reports_idempotency_key_key UNIQUE (idempotency_key)
);
CREATE INDEX reports_status_id_idx ON reports (status, id);
CREATE INDEX reports_category_id_idx ON reports (category, id);
CREATE INDEX reports_case_id_idx ON reports (case_id) WHERE case_id IS NOT NULL;
CREATE INDEX reports_received_at_idx ON reports (received_at);
CREATE INDEX reports_subject_registry_id_idx ON reports (subject_registry_id) WHERE subject_registry_id <> '';

-- Case numbers: gap-tolerant (a rolled-back transaction burns a number).
CREATE SEQUENCE case_number_seq AS bigint;

-- Cases: enforcement cases and their SLA clock.
CREATE TABLE cases (
    id                  text COLLATE "C" PRIMARY KEY,
    number              text NOT NULL,
    title               text NOT NULL,
    subject_name        text NOT NULL DEFAULT '',
    subject_registry_id text NOT NULL DEFAULT '',
    category            text NOT NULL DEFAULT '',
    priority            text NOT NULL,
    status              text NOT NULL,
    assignee            text NOT NULL DEFAULT '',
    opened_at           timestamptz NOT NULL,
    updated_at          timestamptz NOT NULL,
    closed_at           timestamptz,
    resolution          text NOT NULL DEFAULT '',
    details             json, -- json keeps the bytes as written
    due_at              timestamptz NOT NULL,
    paused_at           timestamptz,
    pause_reason        text NOT NULL DEFAULT '',
    paused_total        bigint NOT NULL DEFAULT 0, -- microseconds
    breached_at         timestamptz,
    version             bigint NOT NULL,
    CONSTRAINT cases_number_key UNIQUE (number)
);
CREATE INDEX cases_status_id_idx ON cases (status, id);
CREATE INDEX cases_priority_id_idx ON cases (priority, id);
CREATE INDEX cases_assignee_id_idx ON cases (assignee, id) WHERE assignee <> '';
CREATE INDEX cases_category_id_idx ON cases (category, id);
CREATE INDEX cases_opened_at_idx ON cases (opened_at);
CREATE INDEX cases_due_at_idx ON cases (due_at) WHERE closed_at IS NULL;
CREATE INDEX cases_subject_registry_id_idx ON cases (subject_registry_id) WHERE subject_registry_id <> '';

-- The reports a case absorbed.
CREATE TABLE case_reports (
    case_id   text COLLATE "C" NOT NULL REFERENCES cases (id),
    report_id text COLLATE "C" NOT NULL REFERENCES reports (id),
    linked_at timestamptz NOT NULL,
    PRIMARY KEY (case_id, report_id)
);
CREATE INDEX case_reports_report_id_idx ON case_reports (report_id);

-- Internal notes on cases.
CREATE TABLE notes (
    id         text COLLATE "C" PRIMARY KEY,
    case_id    text COLLATE "C" NOT NULL REFERENCES cases (id),
    author     text NOT NULL,
    body       text NOT NULL,
    created_at timestamptz NOT NULL
);
CREATE INDEX notes_case_id_id_idx ON notes (case_id, id);

-- API tokens: only the sha256 of the secret is kept.
CREATE TABLE api_tokens (
    id         text COLLATE "C" PRIMARY KEY,
    name       text NOT NULL,
    role       text NOT NULL,
    hash       bytea NOT NULL,
    created_at timestamptz NOT NULL,
    revoked_at timestamptz,
    last_used  timestamptz,
    CONSTRAINT api_tokens_hash_key UNIQUE (hash)
);
-- A token's name is the subject id in audit records and assignments: one
-- active token per name.
CREATE UNIQUE INDEX api_tokens_active_name_key ON api_tokens (name) WHERE revoked_at IS NULL;

-- Transactional outbox of CloudEvents; a relay publishes and stamps
-- published_at.
CREATE TABLE outbox (
    id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    event_id      text NOT NULL,
    type          text NOT NULL,
    source        text NOT NULL,
    subject       text NOT NULL DEFAULT '',
    time          timestamptz NOT NULL,
    data          json,
    request_id    text NOT NULL DEFAULT '',
    partition_key text NOT NULL DEFAULT '',
    created_at    timestamptz NOT NULL DEFAULT now(),
    published_at  timestamptz,
    CONSTRAINT outbox_event_id_key UNIQUE (event_id)
);
CREATE INDEX outbox_unpublished_idx ON outbox (id) WHERE published_at IS NULL;

-- The tamper-evident audit log: one hash chain per entity. Column names are
-- a contract with the tamper tests; data is text because its canonical JSON
-- bytes are hashed and must come back exactly.
CREATE TABLE audit_records (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    chain       text COLLATE "C" NOT NULL,
    seq         bigint NOT NULL,
    at          timestamptz NOT NULL,
    actor_id    text NOT NULL DEFAULT '',
    actor_role  text NOT NULL DEFAULT '',
    actor_addr  text NOT NULL DEFAULT '',
    request_id  text NOT NULL DEFAULT '',
    action      text NOT NULL,
    entity_type text NOT NULL DEFAULT '',
    entity_id   text NOT NULL DEFAULT '',
    data        text,
    prev_hash   bytea NOT NULL,
    hash        bytea NOT NULL,
    CONSTRAINT audit_records_chain_seq_key UNIQUE (chain, seq)
);
CREATE INDEX audit_records_chain_id_idx ON audit_records (chain, id);

-- The head of every chain. Appends lock one row, so unrelated chains never
-- wait on each other. No index but the key: updates stay HOT.
CREATE TABLE audit_chains (
    chain            text COLLATE "C" PRIMARY KEY,
    seq              bigint NOT NULL,
    head_hash        bytea NOT NULL,
    checkpointed_seq bigint NOT NULL DEFAULT 0
);

-- Signed checkpoints anchoring the chain heads.
CREATE TABLE audit_checkpoints (
    id        bigint PRIMARY KEY,
    at        timestamptz NOT NULL,
    prev_hash bytea NOT NULL,
    hash      bytea NOT NULL,
    key_id    text NOT NULL,
    signature bytea NOT NULL
);

CREATE TABLE audit_checkpoint_heads (
    checkpoint_id bigint NOT NULL REFERENCES audit_checkpoints (id),
    chain         text COLLATE "C" NOT NULL,
    seq           bigint NOT NULL,
    hash          bytea NOT NULL,
    PRIMARY KEY (checkpoint_id, chain)
);

-- Defence in depth: even the owner cannot change the audit tables by
-- accident. (A superuser can still bypass triggers with
-- session_replication_role = replica; the signed checkpoints catch that.)
CREATE FUNCTION regcase_audit_append_only() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'regcase: % on % is not allowed: the audit log is append-only', TG_OP, TG_TABLE_NAME
        USING ERRCODE = 'insufficient_privilege';
END
$$;

CREATE TRIGGER audit_records_append_only
    BEFORE UPDATE OR DELETE OR TRUNCATE ON audit_records
    FOR EACH STATEMENT EXECUTE FUNCTION regcase_audit_append_only();
CREATE TRIGGER audit_checkpoints_append_only
    BEFORE UPDATE OR DELETE OR TRUNCATE ON audit_checkpoints
    FOR EACH STATEMENT EXECUTE FUNCTION regcase_audit_append_only();
CREATE TRIGGER audit_checkpoint_heads_append_only
    BEFORE UPDATE OR DELETE OR TRUNCATE ON audit_checkpoint_heads
    FOR EACH STATEMENT EXECUTE FUNCTION regcase_audit_append_only();

-- What the application role may do.
DO $$
BEGIN
    EXECUTE format('GRANT USAGE ON SCHEMA %I TO regcase_app', current_schema());
END
$$;
GRANT SELECT ON schema_migrations TO regcase_app;
GRANT SELECT, INSERT, UPDATE, DELETE
    ON reports, cases, case_reports, notes, api_tokens, outbox, audit_chains
    TO regcase_app;
GRANT SELECT, INSERT ON audit_records, audit_checkpoints, audit_checkpoint_heads TO regcase_app;
GRANT USAGE, SELECT ON SEQUENCE case_number_seq, outbox_id_seq, audit_records_id_seq TO regcase_app;
