-- 0006_channel: the anonymous reporter channel (messages between officers
-- and the reporter of a report, bound to its tracking code and status
-- secret), the officers' read markers, and evidence attachments.
--
-- Attachment content is chunked bytea rows (attachment_chunks), not large
-- objects: large objects live outside the tables (pg_largeobject), so the
-- grants of regcase_app, pg_dump --table/--schema selections and row counts
-- of the backup would not cover them, and every erased file would need
-- lo_unlink (an orphaned object stays forever). Rows are granted, dumped,
-- counted and deleted like every other row; 256 KiB chunks keep each value
-- far below TOAST's limits and memory per request at one chunk.

-- Message bodies are AES-GCM ciphertext under a per-message key that is
-- itself wrapped with the platform key (wrapped_key); erasure deletes rows.
CREATE TABLE report_messages (
    id            text COLLATE "C" PRIMARY KEY, -- UUIDv7: ID order is time order
    report_id     text COLLATE "C" NOT NULL REFERENCES reports (id),
    from_reporter boolean NOT NULL,
    author        text NOT NULL DEFAULT '', -- officer actor id; '' for the reporter
    body_cipher   bytea NOT NULL,
    wrapped_key   bytea NOT NULL,
    created_at    timestamptz NOT NULL
);
CREATE INDEX report_messages_report_id_id_idx ON report_messages (report_id, id);

-- Per officer and case: the newest message seen (what is unread is newer).
CREATE TABLE message_reads (
    reader       text COLLATE "C" NOT NULL,
    case_id      text COLLATE "C" NOT NULL REFERENCES cases (id),
    last_read_id text COLLATE "C" NOT NULL,
    read_at      timestamptz NOT NULL,
    PRIMARY KEY (reader, case_id)
);

-- Evidence files: metadata here, content in attachment_chunks.
CREATE TABLE attachments (
    id           text COLLATE "C" PRIMARY KEY,
    report_id    text COLLATE "C" REFERENCES reports (id),
    case_id      text COLLATE "C" REFERENCES cases (id),
    filename     bytea NOT NULL, -- sealed with the attachment's key (a name can name a person)
    content_type text NOT NULL,
    size         bigint NOT NULL CHECK (size > 0),
    sha256       bytea NOT NULL,
    chunks       integer NOT NULL,
    wrapped_key  bytea NOT NULL,
    uploaded_by  text NOT NULL,
    created_at   timestamptz NOT NULL,
    CHECK ((report_id IS NULL) <> (case_id IS NULL))
);
CREATE INDEX attachments_report_id_idx ON attachments (report_id) WHERE report_id IS NOT NULL;
CREATE INDEX attachments_case_id_idx ON attachments (case_id) WHERE case_id IS NOT NULL;

-- Sealed chunks of an attachment; the ciphertext does not compress, so
-- TOAST is told not to try.
CREATE TABLE attachment_chunks (
    attachment_id text COLLATE "C" NOT NULL REFERENCES attachments (id) ON DELETE CASCADE,
    seq           integer NOT NULL,
    data          bytea NOT NULL,
    PRIMARY KEY (attachment_id, seq)
);
ALTER TABLE attachment_chunks ALTER COLUMN data SET STORAGE EXTERNAL;

GRANT SELECT, INSERT, DELETE ON report_messages, attachments, attachment_chunks TO regcase_app;
GRANT SELECT, INSERT, UPDATE, DELETE ON message_reads TO regcase_app;
