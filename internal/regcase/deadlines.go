package regcase

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Statutory deadlines (whistleblowing rules: acknowledge a report within 7
// days, give the reporter feedback within 3 months) are tracked on the case,
// beside its SLA clock. Both clocks start when the case's first report was
// received (a case opened directly: when it was opened) and do not pause.
//
//   - Acknowledge is met by the first officer action on the case after it
//     was opened: an assignment, a transition, an edit, a note, an SLA pause
//     or resume (MeetAcknowledge).
//   - Feedback is met by the first status decision: any lifecycle
//     transition (MeetFeedback), which also meets Acknowledge.
//
// A deadline that is not met is announced once when it comes within the
// warning window (event case.deadline_approaching) and marked breached once
// when it passes (audit record and event case.deadline_breached), like the
// SLA breach.

// Deadline kinds.
const (
	DeadlineAcknowledge = "acknowledge"
	DeadlineFeedback    = "feedback"
)

// Deadline is one statutory deadline of a case. DueAt is nil for a case
// opened before deadlines were tracked.
type Deadline struct {
	DueAt      *time.Time
	MetAt      *time.Time
	WarnedAt   *time.Time
	BreachedAt *time.Time
}

// Deadlines are a case's statutory deadlines.
type Deadlines struct {
	Acknowledge Deadline
	Feedback    Deadline
}

// Period is a calendar length: months are calendar months (3 months from
// 30 November is 28 or 29 February, normalised by time.AddDate).
type Period struct {
	Months, Days int
}

// AddTo returns t moved forward by p.
func (p Period) AddTo(t time.Time) time.Time { return t.AddDate(0, p.Months, p.Days) }

// String is the form ParsePeriod reads ("3mo", "7d", "1mo14d").
func (p Period) String() string {
	var b strings.Builder
	if p.Months > 0 {
		fmt.Fprintf(&b, "%dmo", p.Months)
	}
	if p.Days > 0 || p.Months == 0 {
		fmt.Fprintf(&b, "%dd", p.Days)
	}
	return b.String()
}

// ParsePeriod reads a period: a sequence of <n>mo (months), <n>w (weeks)
// and <n>d (days), e.g. "3mo", "7d", "2w", "1mo14d". Errors: EInvalid.
func ParsePeriod(s string) (Period, error) {
	var p Period
	rest := strings.TrimSpace(s)
	if rest == "" {
		return p, Errorf(EInvalid, "empty period (want e.g. 7d, 2w, 3mo)")
	}
	for rest != "" {
		i := 0
		for i < len(rest) && rest[i] >= '0' && rest[i] <= '9' {
			i++
		}
		if i == 0 || i > 5 {
			return Period{}, Errorf(EInvalid, "period %q: want <number><unit> parts like 7d, 2w, 3mo", s)
		}
		n, _ := strconv.Atoi(rest[:i])
		rest = rest[i:]
		switch {
		case strings.HasPrefix(rest, "mo"):
			p.Months += n
			rest = rest[2:]
		case strings.HasPrefix(rest, "w"):
			p.Days += 7 * n
			rest = rest[1:]
		case strings.HasPrefix(rest, "d"):
			p.Days += n
			rest = rest[1:]
		default:
			return Period{}, Errorf(EInvalid, "period %q: unit must be d, w or mo", s)
		}
	}
	if p.Months == 0 && p.Days == 0 {
		return Period{}, Errorf(EInvalid, "period %q is zero", s)
	}
	return p, nil
}

// DeadlineTerms are the two statutory periods.
type DeadlineTerms struct {
	Acknowledge Period
	Feedback    Period
}

// DeadlinePolicy gives the statutory periods, per category where a category
// differs from the default, and the warning window before a due date.
type DeadlinePolicy struct {
	Default    DeadlineTerms
	Categories map[string]DeadlineTerms
	Warn       time.Duration
}

// DefaultDeadlinePolicy is acknowledge within 7 days, feedback within 3
// months, a warning 2 days before either.
func DefaultDeadlinePolicy() DeadlinePolicy {
	return DeadlinePolicy{Default: DeadlineTerms{Acknowledge: Period{Days: 7}, Feedback: Period{Months: 3}},
		Warn: 48 * time.Hour}
}

// Terms returns the periods that apply to category.
func (p DeadlinePolicy) Terms(category string) DeadlineTerms {
	if t, ok := p.Categories[category]; ok {
		return t
	}
	return p.Default
}

// ParseDeadlinePolicy reads the REGCASE_DEADLINES form: comma-separated
// key=period pairs where key is acknowledge, feedback, warn, or
// <category>.acknowledge / <category>.feedback, e.g.
// "acknowledge=7d,feedback=3mo,warn=2d,financial_conduct.feedback=6w".
// Keys not given keep the defaults; a category inherits what it does not
// set. categories lists the valid categories. Errors: EInvalid.
func ParseDeadlinePolicy(s string, categories []string) (DeadlinePolicy, error) {
	p := DefaultDeadlinePolicy()
	type catSet struct {
		ack, fb *Period
	}
	cats := map[string]*catSet{}
	for _, kv := range strings.Split(s, ",") {
		kv = strings.TrimSpace(kv)
		if kv == "" {
			continue
		}
		k, v, ok := strings.Cut(kv, "=")
		if !ok {
			return p, Errorf(EInvalid, "%q: want key=period pairs like acknowledge=7d,feedback=3mo", kv)
		}
		per, err := ParsePeriod(v)
		if err != nil {
			return p, err
		}
		cat, kind, scoped := strings.Cut(strings.TrimSpace(k), ".")
		if !scoped {
			kind, cat = cat, ""
		}
		if scoped && !slices.Contains(categories, cat) {
			return p, Errorf(EInvalid, "unknown category %q in %q", cat, kv)
		}
		switch {
		case kind == "warn" && !scoped:
			if per.Months > 0 {
				return p, Errorf(EInvalid, "warn must be in days or weeks, not months")
			}
			p.Warn = time.Duration(per.Days) * 24 * time.Hour
		case kind == DeadlineAcknowledge || kind == DeadlineFeedback:
			if !scoped {
				if kind == DeadlineAcknowledge {
					p.Default.Acknowledge = per
				} else {
					p.Default.Feedback = per
				}
				continue
			}
			cs := cats[cat]
			if cs == nil {
				cs = &catSet{}
				cats[cat] = cs
			}
			if kind == DeadlineAcknowledge {
				cs.ack = &per
			} else {
				cs.fb = &per
			}
		default:
			return p, Errorf(EInvalid, "unknown key %q (acknowledge, feedback, warn, <category>.acknowledge, <category>.feedback)", k)
		}
	}
	if len(cats) > 0 {
		p.Categories = map[string]DeadlineTerms{}
		for cat, cs := range cats {
			t := p.Default
			if cs.ack != nil {
				t.Acknowledge = *cs.ack
			}
			if cs.fb != nil {
				t.Feedback = *cs.fb
			}
			p.Categories[cat] = t
		}
	}
	return p, nil
}

// startDeadlines sets the deadlines of a new case whose clock starts at
// received (the first report's receipt, or the opening).
func (s *Service) startDeadlines(c *Case, received time.Time) {
	t := s.cfg.Deadlines.Terms(c.Category)
	ack, fb := AuditTime(t.Acknowledge.AddTo(received)), AuditTime(t.Feedback.AddTo(received))
	c.Deadlines = Deadlines{Acknowledge: Deadline{DueAt: &ack}, Feedback: Deadline{DueAt: &fb}}
}

// isOfficer reports whether a is a person working cases (not the platform
// acting by itself).
func isOfficer(a Actor) bool {
	return !strings.HasPrefix(a.ID, "system:") &&
		(a.Role == RoleIntake || a.Role == RoleInvestigator || a.Role == RoleSupervisor)
}

// meetAcknowledge records the first officer action on c (a no-op for the
// system actor, for a deadline already met and for untracked cases).
func meetAcknowledge(a Actor, c *Case, now time.Time) {
	if !isOfficer(a) || c.Deadlines.Acknowledge.DueAt == nil || c.Deadlines.Acknowledge.MetAt != nil {
		return
	}
	c.Deadlines.Acknowledge.MetAt = &now
}

// meetFeedback records the first status decision on c (and the
// acknowledgement it implies).
func meetFeedback(a Actor, c *Case, now time.Time) {
	meetAcknowledge(a, c, now)
	if !isOfficer(a) || c.Deadlines.Feedback.DueAt == nil || c.Deadlines.Feedback.MetAt != nil {
		return
	}
	c.Deadlines.Feedback.MetAt = &now
}

// MarkDeadlines records what is due on case id now: for each open, unmet
// deadline, an approaching warning once it is within the warning window and
// a breach once it has passed (audit record and event each, exactly once,
// under the case's row lock). A breach found before its warning counts as
// the warning too. It returns the number of warnings and breaches written.
func (s *Service) MarkDeadlines(ctx context.Context, id string) (warned, breached int, err error) {
	a := SystemActor("deadlines")
	err = s.cfg.Store.InTx(ctx, func(tx Tx) error {
		warned, breached = 0, 0
		c, err := tx.LockCase(ctx, id)
		if err != nil {
			return err
		}
		if c.ClosedAt != nil || s.cfg.Lifecycle.IsFinal(c.Status) {
			return nil
		}
		now := s.now()
		type change1 struct {
			action string
			data   map[string]any
		}
		var changes []change1
		for _, k := range []struct {
			kind string
			d    *Deadline
		}{{DeadlineAcknowledge, &c.Deadlines.Acknowledge}, {DeadlineFeedback, &c.Deadlines.Feedback}} {
			d := k.d
			if d.DueAt == nil || d.MetAt != nil {
				continue
			}
			data := map[string]any{"deadline": k.kind, "due_at": *d.DueAt, "case_number": c.Number}
			switch {
			case d.BreachedAt == nil && now.After(*d.DueAt):
				d.BreachedAt = &now
				if d.WarnedAt == nil {
					d.WarnedAt = &now
				}
				data["overdue_seconds"] = int64(now.Sub(*d.DueAt).Seconds())
				changes = append(changes, change1{"case.deadline_breached", data})
				breached++
			case d.WarnedAt == nil && d.BreachedAt == nil && now.Add(s.cfg.Deadlines.Warn).After(*d.DueAt):
				d.WarnedAt = &now
				changes = append(changes, change1{"case.deadline_approaching", data})
				warned++
			}
		}
		if len(changes) == 0 {
			return nil
		}
		c.UpdatedAt = now
		if err := tx.UpdateCase(ctx, c, c.Version); err != nil {
			return err
		}
		for _, ch := range changes {
			ch.data["version"] = c.Version
			if err := s.record(ctx, tx, a, now, change{action: ch.action, entityType: "case", entityID: c.ID, data: ch.data, state: caseState(c)}); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return 0, 0, err
	}
	return warned, breached, nil
}

// Deadline states, as the API and the console show them.
const (
	DeadlineNotTracked = "not_tracked"
	DeadlinePending    = "pending"
	DeadlineOverdue    = "overdue"
	DeadlineMet        = "met"
	DeadlineMetLate    = "met_late"
)

// State says where d stands at now: not_tracked, pending, overdue, met or
// met_late (met after the due date).
func (d Deadline) State(now time.Time) string {
	switch {
	case d.DueAt == nil:
		return DeadlineNotTracked
	case d.MetAt != nil && d.MetAt.After(*d.DueAt):
		return DeadlineMetLate
	case d.MetAt != nil:
		return DeadlineMet
	case now.After(*d.DueAt):
		return DeadlineOverdue
	}
	return DeadlinePending
}
