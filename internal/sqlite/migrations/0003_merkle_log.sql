-- 0003_merkle_log: every audit record becomes a leaf of one append-only
-- Merkle tree (RFC 6962 hashing, the layout of golang.org/x/mod/sumdb/tlog),
-- and signed tree checkpoints (C2SP tlog-checkpoint signed notes) anchor it.
-- Same tables and columns as on PostgreSQL. SQLite commits writers one at a
-- time, so record ids become visible in order and the sequencer needs no
-- watermark state.

CREATE TABLE audit_leaves (
    idx       INTEGER PRIMARY KEY,
    record_id INTEGER NOT NULL UNIQUE,
    hash      BLOB NOT NULL
) STRICT;

CREATE TABLE audit_tree_hashes (
    idx  INTEGER PRIMARY KEY,
    hash BLOB NOT NULL
) STRICT;

CREATE TABLE audit_tree_checkpoints (
    tree_size INTEGER PRIMARY KEY,
    root      BLOB NOT NULL,
    note      TEXT NOT NULL,
    at        TEXT NOT NULL
) STRICT;

CREATE TRIGGER audit_leaves_no_update BEFORE UPDATE ON audit_leaves
BEGIN SELECT RAISE(ABORT, 'audit_leaves is append-only'); END;
CREATE TRIGGER audit_leaves_no_delete BEFORE DELETE ON audit_leaves
BEGIN SELECT RAISE(ABORT, 'audit_leaves is append-only'); END;
CREATE TRIGGER audit_tree_hashes_no_update BEFORE UPDATE ON audit_tree_hashes
BEGIN SELECT RAISE(ABORT, 'audit_tree_hashes is append-only'); END;
CREATE TRIGGER audit_tree_hashes_no_delete BEFORE DELETE ON audit_tree_hashes
BEGIN SELECT RAISE(ABORT, 'audit_tree_hashes is append-only'); END;
CREATE TRIGGER audit_tree_checkpoints_no_update BEFORE UPDATE ON audit_tree_checkpoints
BEGIN SELECT RAISE(ABORT, 'audit_tree_checkpoints is append-only'); END;
CREATE TRIGGER audit_tree_checkpoints_no_delete BEFORE DELETE ON audit_tree_checkpoints
BEGIN SELECT RAISE(ABORT, 'audit_tree_checkpoints is append-only'); END;
