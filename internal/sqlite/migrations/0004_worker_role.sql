-- 0004_worker_role: on PostgreSQL the worker gets its own database role and
-- the api role can no longer insert audit checkpoints. SQLite has no roles
-- (whoever opens the file may do everything; the file is 0600): nothing to
-- do here but keep the two engines' schema versions in step.
SELECT 1;
