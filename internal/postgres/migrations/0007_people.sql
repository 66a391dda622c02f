-- 0007_people: statutory deadlines on cases, officers' notification
-- addresses and the e-mail notifications the worker sends.

-- Statutory deadlines (acknowledge, feedback): due, met, warned (the
-- "approaching" notice was sent) and breached; NULL due = not tracked (a
-- case opened before this migration). Nullable columns: no table rewrite.
ALTER TABLE cases
    ADD COLUMN ack_due_at timestamptz,
    ADD COLUMN ack_met_at timestamptz,
    ADD COLUMN ack_warned_at timestamptz,
    ADD COLUMN ack_breached_at timestamptz,
    ADD COLUMN feedback_due_at timestamptz,
    ADD COLUMN feedback_met_at timestamptz,
    ADD COLUMN feedback_warned_at timestamptz,
    ADD COLUMN feedback_breached_at timestamptz;
CREATE INDEX cases_ack_due_open_idx ON cases (ack_due_at) WHERE closed_at IS NULL AND ack_met_at IS NULL;
CREATE INDEX cases_feedback_due_open_idx ON cases (feedback_due_at) WHERE closed_at IS NULL AND feedback_met_at IS NULL;
-- The dashboard's backlog and ageing read open cases only.
CREATE INDEX cases_open_status_priority_idx ON cases (status, priority, opened_at) WHERE closed_at IS NULL;

-- An officer's (token or OIDC subject) e-mail address for notifications,
-- and whether they want them. actor_id is "token:<id>" or "oidc:<sub>".
CREATE TABLE officer_contacts (
    actor_id   text COLLATE "C" PRIMARY KEY,
    role       text NOT NULL,
    email      text NOT NULL,
    notify     boolean NOT NULL DEFAULT true,
    updated_at timestamptz NOT NULL
);
CREATE INDEX officer_contacts_role_idx ON officer_contacts (role) WHERE notify;

-- One e-mail per event and recipient (the dedupe key). recipient is an
-- actor id, or "report:<id>" for a reporter: addresses are looked up at
-- sending time (an opt-out or an erasure in between stops the mail), so
-- this table holds no address and no reporter data.
CREATE TABLE notifications (
    id              text COLLATE "C" PRIMARY KEY,
    event_id        text NOT NULL,
    recipient       text NOT NULL,
    kind            text NOT NULL,
    data            json NOT NULL DEFAULT '{}',
    status          text NOT NULL, -- pending | sent | skipped | dead
    attempts        integer NOT NULL DEFAULT 0,
    next_attempt_at timestamptz NOT NULL,
    last_error      text NOT NULL DEFAULT '',
    sent_at         timestamptz,
    created_at      timestamptz NOT NULL,
    CONSTRAINT notifications_event_recipient_key UNIQUE (event_id, recipient)
);
CREATE INDEX notifications_pending_idx ON notifications (next_attempt_at) WHERE status = 'pending';

GRANT SELECT, INSERT, UPDATE, DELETE ON officer_contacts TO regcase_app;
GRANT SELECT, INSERT, UPDATE ON notifications TO regcase_app;
