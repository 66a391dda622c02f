// Package e2e holds the system tests of the event pipeline (outbox →
// Redis Streams → workers → webhooks, SLA escalation): the regcase binary
// is built once and run as real processes (api, worker, all) on loopback
// ports, against a real PostgreSQL (internal/pgtest) and a real Redis
// (internal/redistest), so that processes and servers can be killed,
// stopped and restarted.
//
// Every webhook delivery of every test lands in a receiver that verifies
// the signature with the Standard Webhooks Go library and parses the body
// with the CloudEvents Go SDK; a request either rejects fails the test.
// The receiver dedupes by webhook-id (the event id) and counts.
//
// What is tested:
//
//   - TestSignaturesAndCloudEvents: every event type verifies and parses;
//     controls show a changed byte or another secret is rejected.
//   - TestKillWorkerMidDelivery: SIGKILL of one of two workers during
//     slow deliveries; every event delivered, each once after dedupe.
//   - TestRedisOutage: Redis stopped 30 s during intake; every submission
//     succeeds, the backlog drains, every event is delivered.
//   - TestPostgresRestart: PostgreSQL stopped and started under load; the
//     API and workers turn not ready, then ready, without a restart, and
//     every committed event is delivered.
//   - TestSLABreachExactlyOnce: three workers, 1000 overdue cases; one
//     breach (audit record, event, escalation, webhook) per case.
//   - TestRetryBackoffAndDeadLetter: exponential backoff with equal
//     jitter, delivery history, dead deliveries, redelivery on request.
//   - TestEmbeddedRestart: `regcase all` on SQLite without Redis, killed
//     and restarted on its data directory; every event delivered once.
//   - TestIntakeRateLimitSharedAcrossReplicas: the Redis-backed intake
//     limit holds across two API replicas (429 problem + Retry-After).
//   - TestWebhookURLRefusedByDefault: loopback and private receivers are
//     refused (422 on the url) without REGCASE_WEBHOOK_ALLOW_NETS.
//   - TestWorkerSIGTERMStopsTakingWork: a busy worker stops starting
//     attempts at SIGTERM and exits promptly with status 0.
//   - TestTraceFromRequestToWebhook: api and worker export to a real
//     Jaeger (started on loopback from the binary scripts/install-jaeger.sh
//     builds); a report and its triage, each with a known traceparent,
//     each make one trace — API span, its database spans, the worker's
//     publish, process and delivery spans as children of the API span, the
//     HTTP client span whose traceparent the receiver got — and no span
//     attribute holds personal data, a token or a secret.
//   - TestTracingOffConnectsNowhere: without OTEL_* settings a listener on
//     127.0.0.1:4318 sees no connection, and the caller's traceparent still
//     reaches the request log, the CloudEvent and the webhook request.
//
// Run them with
//
//	go test -race -count=1 ./internal/e2e/
//
// (about 100 s on two CPUs; -v prints the FIGURES lines: events,
// duplicates seen, drain and recovery times, breach counts, and each
// process's WARN/ERROR lines by message; a failing test prints the tail of
// every process's log). They need PostgreSQL server binaries and
// redis-server (scripts/install-test-deps.sh) and are skipped with -short;
// the tracing test needs Jaeger (scripts/install-jaeger.sh; skipped without
// it unless REGCASE_REQUIRE_JAEGER=1, which scripts/test.sh sets).
// REGCASE_E2E_BINARY=/path/to/regcase tests that binary instead of
// building ./cmd/regcase.
package e2e
