-- 0002_pipeline: the event pipeline — idempotent handlers, leases, webhook
-- subscriptions and deliveries, dead letters — and the indexes of the relay
-- and the SLA scan.
--
-- Run as the owner role, like 0001; regcase_app gets only what the pipeline
-- needs (webhook_attempts is append-only for it, and nothing is ever
-- deleted from webhooks, webhook_deliveries or dead_events).

-- Which handler has handled which event: the handler's effects and this row
-- commit together, so an event takes effect once per handler however often
-- it is delivered. Pruned with the outbox (same retention).
CREATE TABLE processed_events (
    handler      text NOT NULL,
    event_id     text NOT NULL,
    processed_at timestamptz NOT NULL,
    PRIMARY KEY (handler, event_id)
);
CREATE INDEX processed_events_processed_at_idx ON processed_events (processed_at);

-- Named leases electing one relay and one SLA scanner among replicas;
-- expires_at is on the database's clock.
CREATE TABLE leases (
    name       text PRIMARY KEY,
    holder     text NOT NULL,
    expires_at timestamptz NOT NULL
);

-- Webhook subscriptions; deleted ones are kept (deleted_at) for the
-- history of their deliveries.
CREATE TABLE webhooks (
    id            text COLLATE "C" PRIMARY KEY,
    url           text NOT NULL,
    event_types   text[] NOT NULL DEFAULT '{}', -- empty = every event
    description   text NOT NULL DEFAULT '',
    secret_cipher bytea NOT NULL,
    created_at    timestamptz NOT NULL,
    created_by    text NOT NULL DEFAULT '',
    deleted_at    timestamptz
);

-- One event for one subscription, with its retry state. payload is json
-- (not jsonb): the bytes frozen at fan-out are the bytes sent.
CREATE TABLE webhook_deliveries (
    id              text COLLATE "C" PRIMARY KEY, -- UUIDv7: ID order is creation order
    webhook_id      text COLLATE "C" NOT NULL REFERENCES webhooks (id),
    event_id        text NOT NULL,
    event_type      text NOT NULL,
    payload         json NOT NULL,
    status          text NOT NULL CHECK (status IN ('pending', 'delivered', 'dead')),
    attempts        integer NOT NULL DEFAULT 0,
    next_attempt_at timestamptz NOT NULL,
    last_attempt_at timestamptz,
    last_status     integer NOT NULL DEFAULT 0,
    last_error      text NOT NULL DEFAULT '',
    delivered_at    timestamptz,
    created_at      timestamptz NOT NULL,
    CONSTRAINT webhook_deliveries_webhook_event_key UNIQUE (webhook_id, event_id)
);
-- Claiming: the due pending deliveries, earliest first.
CREATE INDEX webhook_deliveries_pending_idx ON webhook_deliveries (next_attempt_at) WHERE status = 'pending';
-- A subscription's deliveries, newest first (the unique key above serves
-- webhook_id alone too, but not the ID order).
CREATE INDEX webhook_deliveries_webhook_id_id_idx ON webhook_deliveries (webhook_id, id);

-- The history of a delivery: one row per HTTP attempt, append-only.
CREATE TABLE webhook_attempts (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    delivery_id text COLLATE "C" NOT NULL REFERENCES webhook_deliveries (id),
    at          timestamptz NOT NULL,
    duration    bigint NOT NULL, -- microseconds
    status_code integer NOT NULL DEFAULT 0,
    error       text NOT NULL DEFAULT ''
);
CREATE INDEX webhook_attempts_delivery_id_id_idx ON webhook_attempts (delivery_id, id);

-- Dead letters: events a handler gave up on, with the whole event so that
-- a replay can put it back on the outbox even after the outbox was pruned.
CREATE TABLE dead_events (
    id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    handler       text NOT NULL,
    event_id      text NOT NULL,
    type          text NOT NULL,
    source        text NOT NULL,
    subject       text NOT NULL DEFAULT '',
    time          timestamptz NOT NULL,
    data          json, -- json keeps the bytes as written
    request_id    text NOT NULL DEFAULT '',
    partition_key text NOT NULL DEFAULT '',
    reason        text NOT NULL DEFAULT '',
    deliveries    integer NOT NULL DEFAULT 0,
    dead_at       timestamptz NOT NULL,
    replayed_at   timestamptz
);
-- One unreplayed dead letter per handler and event.
CREATE UNIQUE INDEX dead_events_unreplayed_key ON dead_events (handler, event_id) WHERE replayed_at IS NULL;
CREATE INDEX dead_events_handler_id_idx ON dead_events (handler, id);

-- The SLA scan (OverdueCases): open cases whose clock runs and that are not
-- marked breached yet, by due date.
CREATE INDEX cases_overdue_idx ON cases (due_at)
    WHERE closed_at IS NULL AND paused_at IS NULL AND breached_at IS NULL;

-- Pruning the published outbox by age.
CREATE INDEX outbox_published_at_idx ON outbox (published_at) WHERE published_at IS NOT NULL;

-- What the application role may do: least privilege per table.
GRANT SELECT, INSERT, DELETE ON processed_events TO regcase_app;
GRANT SELECT, INSERT, UPDATE, DELETE ON leases TO regcase_app;
GRANT SELECT, INSERT, UPDATE ON webhooks, webhook_deliveries, dead_events TO regcase_app;
GRANT SELECT, INSERT ON webhook_attempts TO regcase_app;
GRANT USAGE, SELECT ON SEQUENCE webhook_attempts_id_seq, dead_events_id_seq TO regcase_app;
