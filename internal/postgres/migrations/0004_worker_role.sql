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
-- The group role and its membership of regcase_app come from migration
-- 0003 (which creates it when missing). Operators create the login role
-- once per cluster:
--
--   CREATE ROLE regcase_wrk LOGIN PASSWORD '…' IN ROLE regcase_worker;

REVOKE INSERT ON audit_checkpoints, audit_checkpoint_heads FROM regcase_app;
GRANT SELECT, INSERT ON audit_checkpoints, audit_checkpoint_heads TO regcase_worker;
