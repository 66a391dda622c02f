package regcase

import (
	"context"
	"encoding/json"
	"slices"
	"strings"
	"time"
)

// This file is the store contract of notifications (officers' addresses,
// the e-mails the worker sends), the statutory-deadline scan and the
// supervisor dashboard. Both engines implement it and pass the same suite
// (internal/storetest).

// OfficerContact is where an officer (a token or an OIDC subject) gets
// notifications, and whether they want them.
type OfficerContact struct {
	ActorID   string // "token:<id>" or "oidc:<subject>"
	Role      Role   // the role when the address was set
	Email     string
	Notify    bool // false: the officer opted out
	UpdatedAt time.Time
}

// NotificationStatus is where one e-mail stands.
type NotificationStatus string

// The notification statuses.
const (
	NotificationPending NotificationStatus = "pending" // waiting for its next attempt
	NotificationSent    NotificationStatus = "sent"    // the SMTP server accepted it
	NotificationSkipped NotificationStatus = "skipped" // no address (anymore), opted out, or erased
	NotificationDead    NotificationStatus = "dead"    // attempts exhausted
)

// Notification is one e-mail to one recipient about one event; (EventID,
// Recipient) is unique, so an event redelivered to the notifier never mails
// anyone twice. Recipient is an actor id or "report:<id>"; the address is
// looked up when sending. Data holds what the message may say (case number,
// deadline kind), never reporter PII.
type Notification struct {
	ID            string
	EventID       string
	Recipient     string
	Kind          string
	Data          json.RawMessage
	Status        NotificationStatus
	Attempts      int
	NextAttemptAt time.Time
	LastError     string
	SentAt        *time.Time
	CreatedAt     time.Time
}

// DashboardQuery bounds the dashboard's aggregates.
type DashboardQuery struct {
	Now time.Time
	// AgeBounds are the upper bounds of the ageing buckets, ascending
	// (the last bucket is "older than the last bound").
	AgeBounds []time.Duration
	// Weeks of intake to count, ending with the week of Now (weeks start
	// on Monday, UTC).
	Weeks int
}

// CountByStatePriority is one cell of the backlog.
type CountByStatePriority struct {
	Status   string
	Priority Priority
	Count    int64
}

// Compliance counts how a clock (SLA or a statutory deadline) went.
type Compliance struct {
	MetOnTime   int64 // met (closed / acted on) before the due date
	MetLate     int64 // met after the due date
	Overdue     int64 // not met and past due
	Pending     int64 // not met, not yet due
	NotTracked  int64 // no due date (opened before it was tracked)
	BreachMarks int64 // breaches marked (audit records written)
}

// OpenCount is one group of open cases: state, priority, age bucket.
type OpenCount struct {
	Status    string
	Priority  Priority
	AgeBucket int
	Count     int64
}

// AddOpen folds groups of open cases into Backlog (ordered by state, then
// priority), Ageing and OpenCases. Stores call it with their one scan.
func (d *Dashboard) AddOpen(cells []OpenCount) {
	idx := map[[2]string]int{}
	for _, c := range cells {
		k := [2]string{c.Status, string(c.Priority)}
		i, ok := idx[k]
		if !ok {
			i = len(d.Backlog)
			idx[k] = i
			d.Backlog = append(d.Backlog, CountByStatePriority{Status: c.Status, Priority: c.Priority})
		}
		d.Backlog[i].Count += c.Count
		if c.AgeBucket >= 0 && c.AgeBucket < len(d.Ageing) {
			d.Ageing[c.AgeBucket] += c.Count
		}
		d.OpenCases += c.Count
	}
	slices.SortFunc(d.Backlog, func(a, b CountByStatePriority) int {
		if a.Status != b.Status {
			return strings.Compare(a.Status, b.Status)
		}
		return strings.Compare(string(a.Priority), string(b.Priority))
	})
}

// Dashboard holds the supervisor dashboard's aggregates, computed by the
// database.
type Dashboard struct {
	Backlog []CountByStatePriority // open cases only
	// Ageing[i] counts open cases younger than AgeBounds[i] (and not
	// younger than AgeBounds[i-1]); the last element counts the older ones.
	Ageing      []int64
	SLA         Compliance
	Acknowledge Compliance
	Feedback    Compliance
	// Intake[i] counts reports received in week i (0 = the oldest of
	// Weeks); WeekStart is the Monday 00:00 UTC starting week 0.
	Intake    []int64
	WeekStart time.Time
	OpenCases int64
}

// PeopleStore is the part of Store for notifications, deadlines and the
// dashboard.
type PeopleStore interface {
	// GetContact returns an officer's contact (ENotFound if none).
	GetContact(ctx context.Context, actorID string) (*OfficerContact, error)
	// NotifiableContacts returns the contacts of role who did not opt out
	// and whose token (for "token:" actors) is not revoked, actor id
	// ascending.
	NotifiableContacts(ctx context.Context, role Role) ([]*OfficerContact, error)
	// ClaimNotifications picks at most limit pending notifications due at
	// now, moves their NextAttemptAt to now+lease and returns them; two
	// callers never get the same one.
	ClaimNotifications(ctx context.Context, now time.Time, lease time.Duration, limit int) ([]*Notification, error)
	// UpdateNotification writes Status, Attempts, NextAttemptAt, LastError
	// and SentAt (ENotFound if missing). A sent notification is never
	// changed back (the write is skipped).
	UpdateNotification(ctx context.Context, n *Notification) error
	// ListNotifications returns the notifications of an event, recipient
	// ascending (all of them when eventID is "", at most limit).
	ListNotifications(ctx context.Context, eventID string, limit int) ([]*Notification, error)
	// DueDeadlines returns the IDs of at most limit open cases with an
	// unmet statutory deadline that is past due and not marked breached,
	// or within warn of its due date and not yet warned.
	DueDeadlines(ctx context.Context, now time.Time, warn time.Duration, limit int) ([]string, error)
	// Dashboard computes the supervisor dashboard by SQL aggregates.
	Dashboard(ctx context.Context, q DashboardQuery) (*Dashboard, error)
}

// PeopleTx is the part of Tx for contacts and notifications.
type PeopleTx interface {
	// PutContact creates or replaces the contact of c.ActorID.
	PutContact(ctx context.Context, c *OfficerContact) error
	// InsertNotification stores a new notification; a second one for the
	// same event and recipient returns EConflict and leaves the
	// transaction usable.
	InsertNotification(ctx context.Context, n *Notification) error
}

// IntakeWeeks returns the Monday (00:00 UTC) starting the first of q.Weeks
// weeks that end with the week of q.Now, and a zeroed count per week.
func (q DashboardQuery) IntakeWeeks() (time.Time, []int64) {
	weeks := max(q.Weeks, 1)
	now := q.Now.UTC()
	day := time.Date(now.Year(), now.Month(), now.Day(), 0, 0, 0, 0, time.UTC)
	monday := day.AddDate(0, 0, -((int(day.Weekday()) + 6) % 7))
	return monday.AddDate(0, 0, -7*(weeks-1)), make([]int64, weeks)
}
