-- pgbench script: only the three inserts of an intake (report, audit
-- record, outbox event; no audit chain row), as one transaction: the floor
-- of what any intake that keeps an audit record and an outbox event costs
-- PostgreSQL. Same values as intake.sql.
\set a random(1, 1000000000)
\set b random(1, 1000000000)
BEGIN;
INSERT INTO reports (id, tracking_code, status_secret_hash, channel, category,
    subject_name, subject_registry_id, description, location, occurred_at,
    received_at, updated_at, status, dismiss_reason, case_id,
    has_reporter, reporter_cipher, wrapped_key, erased_at, idempotency_key, request_hash)
VALUES (gen_random_uuid()::text, upper(substr(md5(random()::text), 1, 14)), sha256('s'::bytea), 'api', 'food_safety',
    'Harbour Fish Market', 'FBO-10442', 'Fish displayed without ice at noon; strong smell near the counter.', '', NULL,
    now(), now(), 'received', '', NULL, false, NULL, NULL, NULL, NULL, sha256('r'::bytea));
INSERT INTO audit_records (chain, seq, at, actor_id, actor_role, actor_addr,
        request_id, action, entity_type, entity_id, data, prev_hash, hash)
    VALUES ('report:' || :a::bigint || '-' || :b::bigint, 1, now(), 'bench', 'intake', '127.0.0.1', 'c0ffee0123456789abcdef01', 'report.received', 'report',
        gen_random_uuid()::text, '{"category":"food_safety","channel":"api","has_reporter": false,"subject":{"name":"Harbour Fish Market","registry_id":"FBO-10442"},"tracking_code":"ABCD-EFGH-JKMN"}',
        '\x0000000000000000000000000000000000000000000000000000000000000000'::bytea, sha256('h'::bytea))
    RETURNING id;
INSERT INTO outbox (event_id, type, source, subject, time, data, request_id, partition_key)
    VALUES (gen_random_uuid()::text, 'gov.regcase.report.received', '/regcase', 'reports/x', now(),
    '{"category":"food_safety","channel":"api","has_reporter": false,"subject":{"name":"Harbour Fish Market","registry_id":"FBO-10442"},"tracking_code":"ABCD-EFGH-JKMN"}'::json,
    'c0ffee0123456789abcdef01', 'report:' || 'x');
END;
