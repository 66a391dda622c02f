package dbutil

import (
	"strings"

	"github.com/regcase/regcase/internal/regcase"
)

// The dashboard's compliance part (SLA, acknowledge, feedback) counted
// without reading every case: each count below is one range of a partial
// index that holds few rows (breached, met late, not tracked, paused, or
// closed with a deadline never met) or of an index the open cases already
// have, and the bulk outcome — met on time — is what remains of the total.
// The indexes are migration 0008 (both engines) plus 0002's cases_overdue
// and 0007's cases_*_due_open; none of 0008's takes an entry when a case is
// created (a new case is open, unbreached, unpaused, with both deadlines
// due and unmet), so the intake does not pay for them.
//
// The identities (D, M, B: a deadline's due, met and breached columns):
//   - every case is exactly one of: D IS NULL (not tracked), M IS NULL
//     (unmet: overdue if D < now, else pending), M <= D (on time),
//     M > D (late); so on time = total − not tracked − unmet − late;
//   - the SLA clock (due_at is NOT NULL): a closed case met it on time
//     unless breached_at is set; an open case is pending when unbreached
//     and due_at >= now, otherwise overdue; so open = overdue + pending.

// complianceSQL is the one statement; {now} is the engine's placeholder for
// the dashboard's now (the same parameter everywhere).
const complianceSQL = `SELECT
	(SELECT count(*) FROM cases),
	(SELECT count(*) FROM cases WHERE breached_at IS NOT NULL),
	(SELECT count(*) FROM cases WHERE breached_at IS NOT NULL AND closed_at IS NOT NULL),
	(SELECT count(*) FROM cases WHERE closed_at IS NULL AND paused_at IS NULL AND breached_at IS NULL AND due_at >= {now}),
	(SELECT count(*) FROM cases WHERE closed_at IS NULL AND paused_at IS NOT NULL AND breached_at IS NULL AND due_at >= {now}),
	{ack}, {feedback}`

// clockSQL counts one statutory deadline: unmet open overdue, unmet open
// pending, unmet closed overdue, unmet closed pending, late, not tracked,
// breached.
const clockSQL = `(SELECT count(*) FROM cases WHERE closed_at IS NULL AND X_met_at IS NULL AND X_due_at < {now}),
	(SELECT count(*) FROM cases WHERE closed_at IS NULL AND X_met_at IS NULL AND X_due_at >= {now}),
	(SELECT count(*) FROM cases WHERE closed_at IS NOT NULL AND X_met_at IS NULL AND X_due_at < {now}),
	(SELECT count(*) FROM cases WHERE closed_at IS NOT NULL AND X_met_at IS NULL AND X_due_at >= {now}),
	(SELECT count(*) FROM cases WHERE X_met_at > X_due_at),
	(SELECT count(*) FROM cases WHERE X_due_at IS NULL),
	(SELECT count(*) FROM cases WHERE X_breached_at IS NOT NULL)`

// ComplianceSQL returns the compliance statement with now written as
// placeholder ("$1" on PostgreSQL, "?1" on SQLite); it takes one argument.
func ComplianceSQL(placeholder string) string {
	s := strings.NewReplacer(
		"{ack}", strings.ReplaceAll(clockSQL, "X_", "ack_"),
		"{feedback}", strings.ReplaceAll(clockSQL, "X_", "feedback_"),
	).Replace(complianceSQL)
	return strings.ReplaceAll(s, "{now}", placeholder)
}

// ComplianceCounts are the columns of ComplianceSQL's one row.
type ComplianceCounts struct {
	total, slaBreached, slaClosedBreached, slaPendingRunning, slaPendingPaused int64
	ack, feedback                                                              clockCounts
}

type clockCounts struct {
	openOverdue, openPending, closedOverdue, closedPending, late, untracked, breached int64
}

// Dest returns the scan destinations, in column order.
func (c *ComplianceCounts) Dest() []any {
	d := []any{&c.total, &c.slaBreached, &c.slaClosedBreached, &c.slaPendingRunning, &c.slaPendingPaused}
	for _, k := range []*clockCounts{&c.ack, &c.feedback} {
		d = append(d, &k.openOverdue, &k.openPending, &k.closedOverdue, &k.closedPending, &k.late, &k.untracked, &k.breached)
	}
	return d
}

// Fold writes the counts into d.SLA, d.Acknowledge and d.Feedback; open is
// the number of open cases read in the same snapshot (d.OpenCases after
// Dashboard.AddOpen).
func (c *ComplianceCounts) Fold(d *regcase.Dashboard, open int64) {
	closed := c.total - open
	pending := c.slaPendingRunning + c.slaPendingPaused
	d.SLA = regcase.Compliance{
		MetOnTime:   closed - c.slaClosedBreached,
		MetLate:     c.slaClosedBreached,
		Overdue:     open - pending,
		Pending:     pending,
		BreachMarks: c.slaBreached,
	}
	d.Acknowledge = c.ack.compliance(c.total)
	d.Feedback = c.feedback.compliance(c.total)
}

func (k clockCounts) compliance(total int64) regcase.Compliance {
	overdue, pending := k.openOverdue+k.closedOverdue, k.openPending+k.closedPending
	return regcase.Compliance{
		MetOnTime:   total - k.untracked - overdue - pending - k.late,
		MetLate:     k.late,
		Overdue:     overdue,
		Pending:     pending,
		NotTracked:  k.untracked,
		BreachMarks: k.breached,
	}
}
