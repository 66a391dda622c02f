-- 0008_dashboard_indexes: partial indexes for the dashboard's compliance
-- counts (SLA, acknowledge, feedback), so that they read a few small index
-- ranges instead of every case. Each index holds only rows a case reaches
-- later in its life (breached, paused, met late, closed with a deadline
-- never met) or rows from before deadlines were tracked: creating a case
-- adds no entry to any of them. Expand only: indexes, no table change.

-- SLA: breach marks, and which closed cases were breached.
CREATE INDEX cases_breached ON cases (closed_at) WHERE breached_at IS NOT NULL;
-- SLA: open, paused, unbreached cases by due date (cases_overdue has the
-- running ones).
CREATE INDEX cases_paused_open ON cases (due_at)
    WHERE closed_at IS NULL AND paused_at IS NOT NULL AND breached_at IS NULL;

-- Statutory deadlines: closed with the deadline never met, by due date
-- (cases_*_due_open has the open ones); met late; not tracked; breached.
CREATE INDEX cases_ack_unmet_closed ON cases (ack_due_at) WHERE closed_at IS NOT NULL AND ack_met_at IS NULL;
CREATE INDEX cases_feedback_unmet_closed ON cases (feedback_due_at) WHERE closed_at IS NOT NULL AND feedback_met_at IS NULL;
CREATE INDEX cases_ack_late ON cases (ack_due_at) WHERE ack_met_at > ack_due_at;
CREATE INDEX cases_feedback_late ON cases (feedback_due_at) WHERE feedback_met_at > feedback_due_at;
CREATE INDEX cases_ack_untracked ON cases (ack_due_at) WHERE ack_due_at IS NULL;
CREATE INDEX cases_feedback_untracked ON cases (feedback_due_at) WHERE feedback_due_at IS NULL;
CREATE INDEX cases_ack_breached ON cases (ack_due_at) WHERE ack_breached_at IS NOT NULL;
CREATE INDEX cases_feedback_breached ON cases (feedback_due_at) WHERE feedback_breached_at IS NOT NULL;
