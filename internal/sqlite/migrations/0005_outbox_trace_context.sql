-- 0005_outbox_trace_context: the W3C trace context of the request (or job)
-- that wrote an event, kept with its outbox row so that the pipeline
-- continues that trace and the CloudEvent carries it (Distributed Tracing
-- extension: traceparent, tracestate). NULL = none.
ALTER TABLE outbox ADD COLUMN traceparent TEXT;
ALTER TABLE outbox ADD COLUMN tracestate TEXT;
