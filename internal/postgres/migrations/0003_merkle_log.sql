-- 0003_merkle_log: every audit record becomes a leaf of one append-only
-- Merkle tree (RFC 6962 hashing, the layout of golang.org/x/mod/sumdb/tlog),
-- and signed tree checkpoints (C2SP tlog-checkpoint signed notes) anchor it.
--
-- Leaves are sequenced off the request path by the worker's checkpoint step
-- (regcase_worker), never by the api role (regcase_app may only read).
--
-- regcase_worker is the NOLOGIN group role of the worker's login role; it is
-- a member of regcase_app (everything the api may do, the worker may do) and
-- alone may append to the tree. Operators give the worker its own login:
--
--   CREATE ROLE regcase_wrk LOGIN PASSWORD '…' IN ROLE regcase_worker;

DO $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'regcase_worker') THEN
        BEGIN
            CREATE ROLE regcase_worker NOLOGIN;
        EXCEPTION WHEN duplicate_object OR unique_violation THEN
            NULL; -- created concurrently by another database's migration
        END;
    END IF;
    -- Only when missing: granting it again needs ADMIN OPTION on regcase_app,
    -- which the owner role lacks when the platform created the roles.
    IF NOT pg_has_role('regcase_worker', 'regcase_app', 'MEMBER') THEN
        GRANT regcase_app TO regcase_worker;
    END IF;
END
$$;

-- Leaf idx (0, 1, 2 …, contiguous) is audit record record_id; hash is the
-- RFC 6962 leaf hash of the record (regcase.LeafHash). No foreign key: a
-- leaf naming a missing record is evidence, found by `audit verify`.
CREATE TABLE audit_leaves (
    idx       bigint PRIMARY KEY,
    record_id bigint NOT NULL,
    hash      bytea NOT NULL,
    CONSTRAINT audit_leaves_record_id_key UNIQUE (record_id)
);

-- The tree's stored hashes (tlog.StoredHashIndex numbering): proofs and
-- tree heads are read from here in O(log n).
CREATE TABLE audit_tree_hashes (
    idx  bigint PRIMARY KEY,
    hash bytea NOT NULL
);

-- Signed tree heads: note is the whole signed note as served and witnessed.
CREATE TABLE audit_tree_checkpoints (
    tree_size bigint PRIMARY KEY,
    root      bytea NOT NULL,
    note      text NOT NULL,
    at        timestamptz NOT NULL
);

-- The sequencer's watermark (one row). Every record with id <= floor is a
-- leaf; mark_id/mark_xmax are the next floor and the transaction horizon
-- that must pass before it is safe (see internal/postgres/merkle.go).
CREATE TABLE audit_sequencer (
    id        integer PRIMARY KEY CHECK (id = 1),
    floor     bigint NOT NULL DEFAULT 0,
    mark_id   bigint,
    mark_at   timestamptz,
    mark_xmax bigint
);
INSERT INTO audit_sequencer (id) VALUES (1);

CREATE TRIGGER audit_leaves_append_only
    BEFORE UPDATE OR DELETE OR TRUNCATE ON audit_leaves
    FOR EACH STATEMENT EXECUTE FUNCTION regcase_audit_append_only();
CREATE TRIGGER audit_tree_hashes_append_only
    BEFORE UPDATE OR DELETE OR TRUNCATE ON audit_tree_hashes
    FOR EACH STATEMENT EXECUTE FUNCTION regcase_audit_append_only();
CREATE TRIGGER audit_tree_checkpoints_append_only
    BEFORE UPDATE OR DELETE OR TRUNCATE ON audit_tree_checkpoints
    FOR EACH STATEMENT EXECUTE FUNCTION regcase_audit_append_only();

GRANT SELECT ON audit_leaves, audit_tree_hashes, audit_tree_checkpoints, audit_sequencer TO regcase_app;
GRANT INSERT ON audit_leaves, audit_tree_hashes, audit_tree_checkpoints TO regcase_worker;
GRANT UPDATE ON audit_sequencer TO regcase_worker;
