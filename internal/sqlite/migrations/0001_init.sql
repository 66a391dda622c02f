-- 0001_init: the initial schema.
--
-- Times are TEXT in one fixed-width UTC layout with microseconds
-- (2026-03-01T09:00:00.123456Z), so they sort as strings, compare in range
-- filters and round-trip exactly. Durations are INTEGER microseconds.
-- Optional strings are '' (NOT NULL DEFAULT ''), except the ones that take
-- part in a unique index or a foreign key, which are NULL when absent.

CREATE TABLE cases (
    id                  TEXT PRIMARY KEY,
    number              TEXT NOT NULL UNIQUE,
    title               TEXT NOT NULL,
    subject_name        TEXT NOT NULL,
    subject_registry_id TEXT NOT NULL DEFAULT '',
    category            TEXT NOT NULL,
    priority            TEXT NOT NULL,
    status              TEXT NOT NULL,
    assignee            TEXT NOT NULL DEFAULT '',
    opened_at           TEXT NOT NULL,
    updated_at          TEXT NOT NULL,
    closed_at           TEXT,
    resolution          TEXT NOT NULL DEFAULT '',
    details             TEXT NOT NULL DEFAULT '{}',
    due_at              TEXT NOT NULL,
    paused_at           TEXT,
    pause_reason        TEXT NOT NULL DEFAULT '',
    paused_total_us     INTEGER NOT NULL DEFAULT 0,
    breached_at         TEXT,
    version             INTEGER NOT NULL
) STRICT;

CREATE INDEX cases_status_id ON cases (status, id);
CREATE INDEX cases_priority_id ON cases (priority, id);
CREATE INDEX cases_assignee_id ON cases (assignee, id);
CREATE INDEX cases_category_id ON cases (category, id);
CREATE INDEX cases_subject_registry_id ON cases (subject_registry_id) WHERE subject_registry_id <> '';
CREATE INDEX cases_opened_at ON cases (opened_at);
CREATE INDEX cases_due_at ON cases (due_at);

CREATE TABLE reports (
    id                  TEXT PRIMARY KEY,
    tracking_code       TEXT NOT NULL UNIQUE,
    status_secret_hash  BLOB,
    channel             TEXT NOT NULL,
    category            TEXT NOT NULL,
    subject_name        TEXT NOT NULL,
    subject_registry_id TEXT NOT NULL DEFAULT '',
    description         TEXT NOT NULL,
    location            TEXT NOT NULL DEFAULT '',
    occurred_at         TEXT,
    received_at         TEXT NOT NULL,
    updated_at          TEXT NOT NULL,
    status              TEXT NOT NULL,
    dismiss_reason      TEXT NOT NULL DEFAULT '',
    case_id             TEXT REFERENCES cases (id),
    has_reporter        INTEGER NOT NULL DEFAULT 0,
    reporter_cipher     BLOB,
    wrapped_key         BLOB,
    erased_at           TEXT,
    idempotency_key     TEXT,
    request_hash        BLOB
) STRICT;

CREATE UNIQUE INDEX reports_idempotency_key ON reports (idempotency_key) WHERE idempotency_key IS NOT NULL;
CREATE INDEX reports_status_id ON reports (status, id);
CREATE INDEX reports_channel_id ON reports (channel, id);
CREATE INDEX reports_category_id ON reports (category, id);
CREATE INDEX reports_case_id ON reports (case_id, id) WHERE case_id IS NOT NULL;
CREATE INDEX reports_subject_registry_id ON reports (subject_registry_id) WHERE subject_registry_id <> '';
CREATE INDEX reports_received_at ON reports (received_at);

-- case_reports links reports to the case that absorbed them.
CREATE TABLE case_reports (
    case_id   TEXT NOT NULL REFERENCES cases (id),
    report_id TEXT NOT NULL REFERENCES reports (id),
    linked_at TEXT NOT NULL,
    PRIMARY KEY (case_id, report_id)
) STRICT;

CREATE INDEX case_reports_report_id ON case_reports (report_id);

CREATE TABLE notes (
    id         TEXT PRIMARY KEY,
    case_id    TEXT NOT NULL REFERENCES cases (id),
    author     TEXT NOT NULL,
    body       TEXT NOT NULL,
    created_at TEXT NOT NULL
) STRICT;

CREATE INDEX notes_case_id_id ON notes (case_id, id);

-- counters holds gap-tolerant sequences ('case_number').
CREATE TABLE counters (
    name  TEXT PRIMARY KEY,
    value INTEGER NOT NULL
) STRICT;

CREATE TABLE api_tokens (
    id           TEXT PRIMARY KEY,
    name         TEXT NOT NULL,
    role         TEXT NOT NULL,
    hash         BLOB NOT NULL UNIQUE,
    created_at   TEXT NOT NULL,
    revoked_at   TEXT,
    last_used_at TEXT
) STRICT;
-- A token's name is the subject id in audit records and assignments: one
-- active token per name.
CREATE UNIQUE INDEX api_tokens_active_name_key ON api_tokens (name) WHERE revoked_at IS NULL;

-- outbox is the transactional outbox: events written with the change they
-- describe, published later (published_at set) by the relay.
CREATE TABLE outbox (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    event_id      TEXT NOT NULL UNIQUE,
    type          TEXT NOT NULL,
    source        TEXT NOT NULL,
    subject       TEXT NOT NULL DEFAULT '',
    time          TEXT NOT NULL,
    data          TEXT NOT NULL,
    request_id    TEXT NOT NULL DEFAULT '',
    partition_key TEXT NOT NULL DEFAULT '',
    created_at    TEXT NOT NULL,
    published_at  TEXT
) STRICT;

CREATE INDEX outbox_unpublished ON outbox (id) WHERE published_at IS NULL;

-- The audit log: one hash chain per entity. Column names are shared with
-- the PostgreSQL schema (tamper tests use literal SQL on both engines).
CREATE TABLE audit_records (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    chain       TEXT NOT NULL,
    seq         INTEGER NOT NULL,
    at          TEXT NOT NULL,
    actor_id    TEXT NOT NULL DEFAULT '',
    actor_role  TEXT NOT NULL DEFAULT '',
    actor_addr  TEXT NOT NULL DEFAULT '',
    request_id  TEXT NOT NULL DEFAULT '',
    action      TEXT NOT NULL,
    entity_type TEXT NOT NULL,
    entity_id   TEXT NOT NULL,
    data        TEXT NOT NULL,
    prev_hash   BLOB NOT NULL,
    hash        BLOB NOT NULL,
    UNIQUE (chain, seq)
) STRICT;

CREATE INDEX audit_records_chain_id ON audit_records (chain, id);

-- audit_chains holds each chain's head; it is the row an append locks.
CREATE TABLE audit_chains (
    chain            TEXT PRIMARY KEY,
    seq              INTEGER NOT NULL,
    head_hash        BLOB,
    checkpointed_seq INTEGER NOT NULL DEFAULT 0
) STRICT;

CREATE INDEX audit_chains_pending ON audit_chains (chain) WHERE seq > checkpointed_seq;

CREATE TABLE audit_checkpoints (
    id        INTEGER PRIMARY KEY,
    at        TEXT NOT NULL,
    prev_hash BLOB NOT NULL,
    hash      BLOB NOT NULL,
    key_id    TEXT NOT NULL,
    signature BLOB NOT NULL
) STRICT;

CREATE TABLE audit_checkpoint_heads (
    checkpoint_id INTEGER NOT NULL REFERENCES audit_checkpoints (id),
    chain         TEXT NOT NULL,
    seq           INTEGER NOT NULL,
    hash          BLOB NOT NULL,
    PRIMARY KEY (checkpoint_id, chain)
) STRICT;

-- History is append-only: the application can never change or remove it.
CREATE TRIGGER audit_records_no_update BEFORE UPDATE ON audit_records
BEGIN SELECT RAISE(ABORT, 'audit_records is append-only'); END;
CREATE TRIGGER audit_records_no_delete BEFORE DELETE ON audit_records
BEGIN SELECT RAISE(ABORT, 'audit_records is append-only'); END;
CREATE TRIGGER audit_checkpoints_no_update BEFORE UPDATE ON audit_checkpoints
BEGIN SELECT RAISE(ABORT, 'audit_checkpoints is append-only'); END;
CREATE TRIGGER audit_checkpoints_no_delete BEFORE DELETE ON audit_checkpoints
BEGIN SELECT RAISE(ABORT, 'audit_checkpoints is append-only'); END;
CREATE TRIGGER audit_checkpoint_heads_no_update BEFORE UPDATE ON audit_checkpoint_heads
BEGIN SELECT RAISE(ABORT, 'audit_checkpoint_heads is append-only'); END;
CREATE TRIGGER audit_checkpoint_heads_no_delete BEFORE DELETE ON audit_checkpoint_heads
BEGIN SELECT RAISE(ABORT, 'audit_checkpoint_heads is append-only'); END;
