-- 0006_channel: the anonymous reporter channel (messages between officers
-- and the reporter of a report, bound to its tracking code and status
-- secret), the officers' read markers, and evidence attachments stored in
-- the database as encrypted chunks. Times are encoded as in 0001.

-- Message bodies are AES-GCM ciphertext under a per-message key that is
-- itself wrapped with the platform key (wrapped_key); erasure deletes rows.
CREATE TABLE report_messages (
    id            TEXT PRIMARY KEY, -- UUIDv7: ID order is time order
    report_id     TEXT NOT NULL REFERENCES reports (id),
    from_reporter INTEGER NOT NULL CHECK (from_reporter IN (0, 1)),
    author        TEXT NOT NULL DEFAULT '', -- officer actor id; '' for the reporter
    body_cipher   BLOB NOT NULL,
    wrapped_key   BLOB NOT NULL,
    created_at    TEXT NOT NULL
) STRICT;
CREATE INDEX report_messages_report_id_id ON report_messages (report_id, id);

-- Per officer and case: the newest message seen (what is unread is newer).
CREATE TABLE message_reads (
    reader       TEXT NOT NULL,
    case_id      TEXT NOT NULL REFERENCES cases (id),
    last_read_id TEXT NOT NULL,
    read_at      TEXT NOT NULL,
    PRIMARY KEY (reader, case_id)
) STRICT, WITHOUT ROWID;

-- Evidence files: metadata here, content in attachment_chunks.
CREATE TABLE attachments (
    id           TEXT PRIMARY KEY,
    report_id    TEXT REFERENCES reports (id),
    case_id      TEXT REFERENCES cases (id),
    filename     BLOB NOT NULL, -- sealed with the attachment's key (a name can name a person)
    content_type TEXT NOT NULL,
    size         INTEGER NOT NULL CHECK (size > 0),
    sha256       BLOB NOT NULL,
    chunks       INTEGER NOT NULL,
    wrapped_key  BLOB NOT NULL,
    uploaded_by  TEXT NOT NULL,
    created_at   TEXT NOT NULL,
    CHECK ((report_id IS NULL) <> (case_id IS NULL))
) STRICT;
CREATE INDEX attachments_report_id ON attachments (report_id) WHERE report_id IS NOT NULL;
CREATE INDEX attachments_case_id ON attachments (case_id) WHERE case_id IS NOT NULL;

-- Sealed chunks (256 KiB of plaintext each) of an attachment. A rowid
-- table: SQLite keeps large values of WITHOUT ROWID tables badly.
CREATE TABLE attachment_chunks (
    attachment_id TEXT NOT NULL REFERENCES attachments (id) ON DELETE CASCADE,
    seq           INTEGER NOT NULL,
    data          BLOB NOT NULL,
    UNIQUE (attachment_id, seq)
) STRICT;
