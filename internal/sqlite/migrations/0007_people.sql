-- 0007_people: statutory deadlines on cases, officers' notification
-- addresses and the e-mail notifications the worker sends. Times as in 0001.

-- Statutory deadlines (acknowledge, feedback): due, met, warned (the
-- "approaching" notice was sent) and breached; NULL due = not tracked (a
-- case opened before this migration).
ALTER TABLE cases ADD COLUMN ack_due_at TEXT;
ALTER TABLE cases ADD COLUMN ack_met_at TEXT;
ALTER TABLE cases ADD COLUMN ack_warned_at TEXT;
ALTER TABLE cases ADD COLUMN ack_breached_at TEXT;
ALTER TABLE cases ADD COLUMN feedback_due_at TEXT;
ALTER TABLE cases ADD COLUMN feedback_met_at TEXT;
ALTER TABLE cases ADD COLUMN feedback_warned_at TEXT;
ALTER TABLE cases ADD COLUMN feedback_breached_at TEXT;
CREATE INDEX cases_ack_due_open ON cases (ack_due_at) WHERE closed_at IS NULL AND ack_met_at IS NULL;
CREATE INDEX cases_feedback_due_open ON cases (feedback_due_at) WHERE closed_at IS NULL AND feedback_met_at IS NULL;
-- The dashboard's backlog and ageing read open cases only.
CREATE INDEX cases_open_status_priority ON cases (status, priority, opened_at) WHERE closed_at IS NULL;

-- An officer's (token or OIDC subject) e-mail address for notifications,
-- and whether they want them. actor_id is "token:<id>" or "oidc:<sub>".
CREATE TABLE officer_contacts (
    actor_id   TEXT PRIMARY KEY,
    role       TEXT NOT NULL,
    email      TEXT NOT NULL,
    notify     INTEGER NOT NULL DEFAULT 1,
    updated_at TEXT NOT NULL
) STRICT;
CREATE INDEX officer_contacts_role ON officer_contacts (role) WHERE notify = 1;

-- One e-mail per event and recipient (the dedupe key). recipient is an
-- actor id, or "report:<id>" for a reporter: addresses are looked up at
-- sending time (an opt-out or an erasure in between stops the mail), so
-- this table holds no address and no reporter data.
CREATE TABLE notifications (
    id              TEXT PRIMARY KEY,
    event_id        TEXT NOT NULL,
    recipient       TEXT NOT NULL,
    kind            TEXT NOT NULL,
    data            TEXT NOT NULL DEFAULT '{}',
    status          TEXT NOT NULL, -- pending | sent | skipped | dead
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_attempt_at TEXT NOT NULL,
    last_error      TEXT NOT NULL DEFAULT '',
    sent_at         TEXT,
    created_at      TEXT NOT NULL,
    UNIQUE (event_id, recipient)
) STRICT;
CREATE INDEX notifications_pending ON notifications (next_attempt_at) WHERE status = 'pending';
