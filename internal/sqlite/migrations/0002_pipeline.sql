-- 0002_pipeline: the event pipeline — idempotent handlers, leases, webhook
-- subscriptions and deliveries, dead letters — and the indexes of the relay
-- and the SLA scan. Times and durations are encoded as in 0001.

-- Which handler has handled which event: the handler's effects and this row
-- commit together. Pruned with the outbox (same retention).
CREATE TABLE processed_events (
    handler      TEXT NOT NULL,
    event_id     TEXT NOT NULL,
    processed_at TEXT NOT NULL,
    PRIMARY KEY (handler, event_id)
) STRICT, WITHOUT ROWID;
CREATE INDEX processed_events_processed_at ON processed_events (processed_at);

-- Named leases electing one relay and one SLA scanner among processes
-- sharing the file; expires_at is on SQLite's clock (millisecond precision,
-- stored in the layout of every other time).
CREATE TABLE leases (
    name       TEXT PRIMARY KEY,
    holder     TEXT NOT NULL,
    expires_at TEXT NOT NULL
) STRICT;

-- Webhook subscriptions; deleted ones are kept (deleted_at).
CREATE TABLE webhooks (
    id            TEXT PRIMARY KEY,
    url           TEXT NOT NULL,
    event_types   TEXT NOT NULL DEFAULT '[]', -- JSON array of strings; empty = every event
    description   TEXT NOT NULL DEFAULT '',
    secret_cipher BLOB NOT NULL,
    created_at    TEXT NOT NULL,
    created_by    TEXT NOT NULL DEFAULT '',
    deleted_at    TEXT
) STRICT;

-- One event for one subscription, with its retry state; payload holds the
-- bytes frozen at fan-out.
CREATE TABLE webhook_deliveries (
    id              TEXT PRIMARY KEY, -- UUIDv7: ID order is creation order
    webhook_id      TEXT NOT NULL REFERENCES webhooks (id),
    event_id        TEXT NOT NULL,
    event_type      TEXT NOT NULL,
    payload         TEXT NOT NULL,
    status          TEXT NOT NULL CHECK (status IN ('pending', 'delivered', 'dead')),
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_attempt_at TEXT NOT NULL,
    last_attempt_at TEXT,
    last_status     INTEGER NOT NULL DEFAULT 0,
    last_error      TEXT NOT NULL DEFAULT '',
    delivered_at    TEXT,
    created_at      TEXT NOT NULL,
    UNIQUE (webhook_id, event_id)
) STRICT;
CREATE INDEX webhook_deliveries_pending ON webhook_deliveries (next_attempt_at) WHERE status = 'pending';
CREATE INDEX webhook_deliveries_webhook_id_id ON webhook_deliveries (webhook_id, id);

-- The history of a delivery: one row per HTTP attempt.
CREATE TABLE webhook_attempts (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    delivery_id TEXT NOT NULL REFERENCES webhook_deliveries (id),
    at          TEXT NOT NULL,
    duration_us INTEGER NOT NULL,
    status_code INTEGER NOT NULL DEFAULT 0,
    error       TEXT NOT NULL DEFAULT ''
) STRICT;
CREATE INDEX webhook_attempts_delivery_id_id ON webhook_attempts (delivery_id, id);

-- Dead letters, with the whole event (data NULL when the event had none).
CREATE TABLE dead_events (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    handler       TEXT NOT NULL,
    event_id      TEXT NOT NULL,
    type          TEXT NOT NULL,
    source        TEXT NOT NULL,
    subject       TEXT NOT NULL DEFAULT '',
    time          TEXT NOT NULL,
    data          TEXT,
    request_id    TEXT NOT NULL DEFAULT '',
    partition_key TEXT NOT NULL DEFAULT '',
    reason        TEXT NOT NULL DEFAULT '',
    deliveries    INTEGER NOT NULL DEFAULT 0,
    dead_at       TEXT NOT NULL,
    replayed_at   TEXT
) STRICT;
-- One unreplayed dead letter per handler and event.
CREATE UNIQUE INDEX dead_events_unreplayed ON dead_events (handler, event_id) WHERE replayed_at IS NULL;
CREATE INDEX dead_events_handler_id ON dead_events (handler, id);

-- The SLA scan (OverdueCases).
CREATE INDEX cases_overdue ON cases (due_at)
    WHERE closed_at IS NULL AND paused_at IS NULL AND breached_at IS NULL;

-- Pruning the published outbox by age.
CREATE INDEX outbox_published_at ON outbox (published_at) WHERE published_at IS NOT NULL;
