-- 0004_worker_role: the worker gets its own database role, and the api role
-- can no longer sign (insert) audit checkpoints.
--
-- regcase_worker is a NOLOGIN group role, a member of regcase_app (the
-- worker may do everything the api may) that alone may INSERT into the
-- checkpoint tables. `regcase worker`, `regcase all` and `regcase audit
-- checkpoint` connect as a LOGIN member of it; `regcase api` keeps its
-- regcase_app login, so a compromised api process cannot write checkpoints
-- (it never holds the signing key either).
--
-- Creating the role needs CREATEROLE; when regcase_worker already exists
-- (created by the platform's initdb script, or by migration 0003) it is
-- reused, and the membership is granted only when it is missing. Operators
-- create the login role once per cluster:
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
    IF NOT pg_has_role('regcase_worker', 'regcase_app', 'MEMBER') THEN
        GRANT regcase_app TO regcase_worker;
    END IF;
END
$$;

REVOKE INSERT ON audit_checkpoints, audit_checkpoint_heads FROM regcase_app;
GRANT SELECT, INSERT ON audit_checkpoints, audit_checkpoint_heads TO regcase_worker;
