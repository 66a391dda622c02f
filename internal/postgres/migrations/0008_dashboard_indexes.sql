-- migrate: no transaction
-- 0008_dashboard_indexes: partial indexes for the dashboard's compliance
-- counts (SLA, acknowledge, feedback), so that they read a few small index
-- ranges instead of every case. Each index holds only rows a case reaches
-- later in its life (breached, paused, met late, closed with a deadline
-- never met) or rows from before deadlines were tracked: creating a case
-- adds no entry to any of them. Expand only: indexes, no table change,
-- built CONCURRENTLY (outside a transaction: writes to cases go on), each
-- after dropping a half-built one a failed run may have left.

-- SLA: breach marks, and which closed cases were breached.
DROP INDEX CONCURRENTLY IF EXISTS cases_breached_idx;
CREATE INDEX CONCURRENTLY cases_breached_idx ON cases (closed_at) WHERE breached_at IS NOT NULL;
-- SLA: open, paused, unbreached cases by due date (cases_overdue has the
-- running ones).
DROP INDEX CONCURRENTLY IF EXISTS cases_paused_open_idx;
CREATE INDEX CONCURRENTLY cases_paused_open_idx ON cases (due_at)
    WHERE closed_at IS NULL AND paused_at IS NOT NULL AND breached_at IS NULL;

-- Statutory deadlines: closed with the deadline never met, by due date
-- (cases_*_due_open has the open ones); met late; not tracked; breached.
DROP INDEX CONCURRENTLY IF EXISTS cases_ack_unmet_closed_idx;
CREATE INDEX CONCURRENTLY cases_ack_unmet_closed_idx ON cases (ack_due_at) WHERE closed_at IS NOT NULL AND ack_met_at IS NULL;
DROP INDEX CONCURRENTLY IF EXISTS cases_feedback_unmet_closed_idx;
CREATE INDEX CONCURRENTLY cases_feedback_unmet_closed_idx ON cases (feedback_due_at) WHERE closed_at IS NOT NULL AND feedback_met_at IS NULL;
DROP INDEX CONCURRENTLY IF EXISTS cases_ack_late_idx;
CREATE INDEX CONCURRENTLY cases_ack_late_idx ON cases (ack_due_at) WHERE ack_met_at > ack_due_at;
DROP INDEX CONCURRENTLY IF EXISTS cases_feedback_late_idx;
CREATE INDEX CONCURRENTLY cases_feedback_late_idx ON cases (feedback_due_at) WHERE feedback_met_at > feedback_due_at;
DROP INDEX CONCURRENTLY IF EXISTS cases_ack_untracked_idx;
CREATE INDEX CONCURRENTLY cases_ack_untracked_idx ON cases (ack_due_at) WHERE ack_due_at IS NULL;
DROP INDEX CONCURRENTLY IF EXISTS cases_feedback_untracked_idx;
CREATE INDEX CONCURRENTLY cases_feedback_untracked_idx ON cases (feedback_due_at) WHERE feedback_due_at IS NULL;
DROP INDEX CONCURRENTLY IF EXISTS cases_ack_breached_idx;
CREATE INDEX CONCURRENTLY cases_ack_breached_idx ON cases (ack_due_at) WHERE ack_breached_at IS NOT NULL;
DROP INDEX CONCURRENTLY IF EXISTS cases_feedback_breached_idx;
CREATE INDEX CONCURRENTLY cases_feedback_breached_idx ON cases (feedback_due_at) WHERE feedback_breached_at IS NOT NULL;
