package regcase

import (
	"encoding/json"
	"regexp"
	"slices"
	"strings"
	"time"
)

// Channel is how a report reached the regulator.
type Channel string

// Channels.
const (
	ChannelWeb        Channel = "web"
	ChannelAPI        Channel = "api"
	ChannelPhone      Channel = "phone"
	ChannelEmail      Channel = "email"
	ChannelInspection Channel = "inspection"
)

// Channels lists the valid channels.
var Channels = []Channel{ChannelWeb, ChannelAPI, ChannelPhone, ChannelEmail, ChannelInspection}

// ReportStatus is the state of a report.
type ReportStatus string

// Report statuses: received -> triaged | dismissed.
const (
	ReportReceived  ReportStatus = "received"
	ReportTriaged   ReportStatus = "triaged"
	ReportDismissed ReportStatus = "dismissed"
)

// Priority of a case; it drives the SLA due date.
type Priority string

// Priorities.
const (
	PriorityLow      Priority = "low"
	PriorityNormal   Priority = "normal"
	PriorityHigh     Priority = "high"
	PriorityCritical Priority = "critical"
)

// Priorities lists the valid priorities, lowest first.
var Priorities = []Priority{PriorityLow, PriorityNormal, PriorityHigh, PriorityCritical}

// PriorityRank orders priorities (low 0 … critical 3; -1 for an unknown one).
func PriorityRank(p Priority) int { return slices.Index(Priorities, p) }

// Subject is the regulated entity a report or case is about.
type Subject struct {
	Name       string `json:"name"`
	RegistryID string `json:"registry_id,omitempty"`
}

// Reporter holds a reporter's contact details: PII, encrypted at rest with a
// per-report key, readable only by roles with ActReportReadPII.
type Reporter struct {
	Name  string `json:"name,omitempty"`
	Email string `json:"email,omitempty"`
	Phone string `json:"phone,omitempty"`
	// Updates asks for an e-mail to Email whenever the report's case
	// changes status or an officer writes (no content: "there is an
	// update, use your tracking code").
	Updates bool `json:"updates,omitempty"`
}

// Empty reports whether no contact detail was given.
func (r *Reporter) Empty() bool {
	return r == nil || (r.Name == "" && r.Email == "" && r.Phone == "")
}

// Report is one submission from the public or staff.
type Report struct {
	ID               string
	TrackingCode     string
	StatusSecretHash []byte // sha256 of the status secret; the secret itself is shown once
	Channel          Channel
	Category         string
	Subject          Subject
	Description      string
	Location         string
	OccurredAt       *time.Time
	ReceivedAt       time.Time
	UpdatedAt        time.Time
	Status           ReportStatus
	DismissReason    string
	CaseID           string
	// HasReporter is true when contact details were given (even if erased).
	HasReporter bool
	// ReporterCipher is the AES-GCM ciphertext of the Reporter JSON.
	ReporterCipher []byte
	// WrappedKey is the per-report data key, wrapped with the platform key.
	// Nil once erased (crypto-shredding).
	WrappedKey []byte
	ErasedAt   *time.Time
	// IdempotencyKey and RequestHash make intake replayable.
	IdempotencyKey string
	RequestHash    []byte
}

// EnforcementAction is a proposed or approved enforcement measure.
type EnforcementAction struct {
	Type     string `json:"type" enum:"warning,fine,suspension,revocation"`
	Amount   int64  `json:"amount,omitempty" minimum:"0" doc:"fine amount in minor units (cents)"`
	Currency string `json:"currency,omitempty" doc:"ISO 4217 code, required for a fine"`
	Note     string `json:"note,omitempty" maxLength:"2000"`
}

// EnforcementTypes lists the valid action types.
var EnforcementTypes = []string{"warning", "fine", "suspension", "revocation"}

var currencyRE = regexp.MustCompile(`^[A-Z]{3}$`)

func (a *EnforcementAction) validate(field string) error {
	if a == nil {
		return FieldError(field, "%s is required", field)
	}
	if !slices.Contains(EnforcementTypes, a.Type) {
		return FieldError(field, "%s.type %q is not one of %s", field, a.Type, strings.Join(EnforcementTypes, ", "))
	}
	if a.Type == "fine" {
		if a.Amount <= 0 {
			return FieldError(field, "%s.amount must be positive for a fine", field)
		}
		if !currencyRE.MatchString(a.Currency) {
			return FieldError(field, "%s.currency must be an ISO 4217 code like EUR for a fine", field)
		}
	} else if a.Amount != 0 || a.Currency != "" {
		return FieldError(field, "%s.amount and currency apply only to a fine", field)
	}
	return nil
}

// Case is an enforcement case.
type Case struct {
	ID         string
	Number     string // CASE-2026-000123
	Title      string
	Subject    Subject
	Category   string
	Priority   Priority
	Status     string
	Assignee   string
	OpenedAt   time.Time
	UpdatedAt  time.Time
	ClosedAt   *time.Time
	Resolution string
	// Details holds the latest value of each transition field (findings,
	// proposed_action, action, appeal_reference, decision, reason).
	Details map[string]json.RawMessage
	SLA     SLA
	// Deadlines are the statutory deadlines (see deadlines.go).
	Deadlines Deadlines
	Version   int64
	// ReportIDs are the linked reports, oldest first (filled on reads).
	ReportIDs []string
}

// SLA is a case's service-level clock.
type SLA struct {
	DueAt       time.Time
	PausedAt    *time.Time
	PauseReason string
	PausedTotal time.Duration // accumulated paused time, excluded from the clock
	BreachedAt  *time.Time
}

// Note is an internal note on a case.
type Note struct {
	ID        string
	CaseID    string
	Author    string
	Body      string
	CreatedAt time.Time
}

// APIToken is a bearer token's stored form: only the hash is kept.
type APIToken struct {
	ID        string
	Name      string
	Role      Role
	Hash      []byte // sha256 of the secret
	CreatedAt time.Time
	RevokedAt *time.Time
	LastUsed  *time.Time
}

// Event is a domain event written to the outbox in the same transaction as
// the change it describes (CloudEvents 1.0 attributes).
type Event struct {
	ID        string
	Type      string // gov.regcase.case.transitioned
	Source    string // /regcase
	Subject   string // cases/<id>
	Time      time.Time
	Data      json.RawMessage
	RequestID string
	// PartitionKey orders events per aggregate (case or report id).
	PartitionKey string
	// TraceParent and TraceState are the W3C trace context of the request
	// or job that wrote the event ("" = none): the CloudEvents Distributed
	// Tracing extension. The pipeline's spans continue this trace.
	TraceParent string
	TraceState  string
}
