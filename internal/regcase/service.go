package regcase

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/google/uuid"
)

// DefaultCategories is the built-in report/case taxonomy.
var DefaultCategories = []string{"food_safety", "environment", "financial_conduct", "telecoms", "consumer_protection", "workplace_safety", "other"}

// Deps are the collaborators of a Service.
type Deps struct {
	Store     Store
	Lifecycle *Lifecycle
	Keyring   *Keyring
	SLA       SLAPolicy
	// Deadlines are the statutory deadline periods (default
	// DefaultDeadlinePolicy).
	Deadlines  DeadlinePolicy
	Categories []string
	// EventSource is the CloudEvents source attribute, e.g. "/regcase".
	EventSource string
	Now         func() time.Time // defaults to time.Now
	NewID       func() string    // defaults to UUIDv7
	Random      io.Reader        // defaults to crypto/rand
	// CheckWebhookURL validates a subscription URL (the SSRF policy);
	// nil accepts any absolute http(s) URL.
	CheckWebhookURL func(string) error
	// Breach is what the SLA scan does to a breached case.
	Breach BreachPolicy
	// AnonymousAddr is what audit records keep of an anonymous caller's
	// address (default AddrNone: nothing).
	AnonymousAddr AddrPolicy
	// IdempotencyRetention is how long an intake Idempotency-Key replays
	// the original submission (default DefaultIdempotencyRetention); an
	// older key is refused rather than answered.
	IdempotencyRetention time.Duration
	// AttachmentMaxBytes bounds one evidence file (default
	// DefaultAttachmentMaxBytes); a larger upload is ETooLarge.
	AttachmentMaxBytes int64
	// SpoolDir holds uploads (already encrypted) while they arrive, so a
	// slow client never holds a database transaction ("" = os.TempDir()).
	SpoolDir string
	// Blobs stores attachment content; nil keeps it in the database.
	Blobs Blobs
	// TraceContext returns the W3C traceparent and tracestate of the span
	// in ctx; every event written records them (nil: none).
	TraceContext func(ctx context.Context) (traceparent, tracestate string)
	// DashboardMaxAge is how long this process serves a computed
	// dashboard again (0: DefaultDashboardMaxAge; negative: never).
	DashboardMaxAge time.Duration
	// AuditKeys are every public key audit checkpoints may be signed with
	// (old keys stay after a rotation); AuditOrigin is the Merkle log's
	// origin line and its signing key's note name (default
	// DefaultAuditOrigin).
	AuditKeys   *AuditKeys
	AuditOrigin string
}

// DefaultAuditOrigin is the origin of the Merkle log when none is set.
const DefaultAuditOrigin = "regcase.local/regcase/audit"

// Service implements every use case of the platform on top of a Store. Each
// mutation writes the change, its audit record and its outbox event in one
// transaction: if the audit record cannot be written, the change does not
// happen.
type Service struct {
	cfg    Deps // NewService's options, defaults filled; private so callers use methods
	tokens tokenCache
	dash   dashboardCache
}

// NewService fills defaults and returns a Service.
func NewService(d Deps) *Service {
	if d.Now == nil {
		d.Now = time.Now
	}
	if d.NewID == nil {
		d.NewID = func() string { return uuid.Must(uuid.NewV7()).String() }
	}
	if d.Random == nil {
		d.Random = rand.Reader
	}
	if d.SLA == nil {
		d.SLA = DefaultSLAPolicy()
	}
	if d.Deadlines.Default == (DeadlineTerms{}) {
		d.Deadlines = DefaultDeadlinePolicy()
	}
	if len(d.Categories) == 0 {
		d.Categories = DefaultCategories
	}
	if d.EventSource == "" {
		d.EventSource = "/regcase"
	}
	if d.Breach == "" {
		d.Breach = BreachEscalate
	}
	if d.Lifecycle == nil {
		d.Lifecycle = MustDefaultLifecycle()
	}
	if d.AnonymousAddr == "" {
		d.AnonymousAddr = AddrNone
	}
	if d.AuditOrigin == "" {
		d.AuditOrigin = DefaultAuditOrigin
	}
	if d.IdempotencyRetention <= 0 {
		d.IdempotencyRetention = DefaultIdempotencyRetention
	}
	return &Service{cfg: d}
}

func (s *Service) now() time.Time { return AuditTime(s.cfg.Now()) }

// Now is the service's clock (Deps.Now).
func (s *Service) Now() time.Time { return s.cfg.Now() }

// NewID returns a fresh identifier (Deps.NewID, UUIDv7 by default).
func (s *Service) NewID() string { return s.cfg.NewID() }

// Categories is the configured report/case taxonomy, in configured order
// (a copy: the caller may change it).
func (s *Service) Categories() []string { return slices.Clone(s.cfg.Categories) }

// Lifecycle is the case state machine the service enforces.
func (s *Service) Lifecycle() *Lifecycle { return s.cfg.Lifecycle }

// AvailableTransitions lists the transitions a may take on c now.
func (s *Service) AvailableTransitions(a Actor, c *Case) []Transition {
	return s.cfg.Lifecycle.Available(a, c.Status, c.Assignee)
}

// SLA is the time allowed per priority.
func (s *Service) SLA() SLAPolicy { return s.cfg.SLA }

// Deadlines is the statutory deadline policy.
func (s *Service) Deadlines() DeadlinePolicy { return s.cfg.Deadlines }

// AttachmentMaxBytes bounds one evidence file (the default when unset).
func (s *Service) AttachmentMaxBytes() int64 {
	return s.maxAttachment()
}

// KeptAddr is what audit records and request logs keep of a's address: an
// anonymous caller's goes through the address policy (Deps.AnonymousAddr),
// an officer's is kept.
func (s *Service) KeptAddr(a Actor) string {
	if a.Role == RoleAnonymous || a.Role == "" {
		return s.cfg.AnonymousAddr.Apply(a.Addr)
	}
	return a.Addr
}

// AuditKeys are the public keys audit checkpoints may be signed with.
func (s *Service) AuditKeys() *AuditKeys { return s.cfg.AuditKeys }

// SetDashboardMaxAge changes how long a computed dashboard is served again
// (0: DefaultDashboardMaxAge; negative: never); not safe while requests run.
func (s *Service) SetDashboardMaxAge(d time.Duration) { s.cfg.DashboardMaxAge = d }

// SetAuditKeys replaces the checkpoint verification keys (a command that
// loads them after building the service); not safe while requests run.
func (s *Service) SetAuditKeys(k *AuditKeys) { s.cfg.AuditKeys = k }

// change is one audited, evented mutation.
type change struct {
	action     string // audit action and event type suffix, e.g. "case.transitioned"
	entityType string
	entityID   string
	data       any // audit data: what changed, never PII
	event      any // event data; nil = data
	state      any // the entity's state after the change (replay.go); audit only, not in the event
}

// newRecord builds (unsealed) the audit record and the outbox event of c;
// the event records the trace context of ctx.
func (s *Service) newRecord(ctx context.Context, a Actor, at time.Time, c change) (*AuditRecord, *Event, error) {
	data, err := CanonicalJSON(withState(c.data, c.state))
	if err != nil {
		return nil, nil, Internal(fmt.Errorf("audit data: %w", err))
	}
	addr := s.KeptAddr(a)
	rec := &AuditRecord{
		Chain: ChainFor(c.entityType, c.entityID), Time: at,
		ActorID: a.ID, ActorRole: a.Role, ActorAddr: addr, RequestID: a.RequestID,
		Action: c.action, EntityType: c.entityType, EntityID: c.entityID, Data: data,
	}
	evData := data
	if c.event == nil && c.state != nil { // the snapshot stays out of the event
		if evData, err = CanonicalJSON(c.data); err != nil {
			return nil, nil, Internal(fmt.Errorf("event data: %w", err))
		}
	}
	if c.event != nil {
		if evData, err = json.Marshal(c.event); err != nil {
			return nil, nil, Internal(fmt.Errorf("event data: %w", err))
		}
	}
	ev := &Event{
		ID: s.cfg.NewID(), Type: "gov.regcase." + c.action, Source: s.cfg.EventSource,
		Subject: c.entityType + "s/" + c.entityID, Time: at, Data: evData,
		RequestID: a.RequestID, PartitionKey: c.entityType + ":" + c.entityID,
	}
	if s.cfg.TraceContext != nil {
		ev.TraceParent, ev.TraceState = s.cfg.TraceContext(ctx)
	}
	return rec, ev, nil
}

// record appends the audit record and the outbox event for c inside tx.
func (s *Service) record(ctx context.Context, tx Tx, a Actor, at time.Time, c change) error {
	rec, ev, err := s.newRecord(ctx, a, at, c)
	if err != nil {
		return err
	}
	if err := tx.AppendAudit(ctx, rec); err != nil {
		return err
	}
	return tx.InsertEvent(ctx, ev)
}

// randomString returns n characters from alphabet.
func (s *Service) randomString(alphabet string, n int) (string, error) {
	buf := make([]byte, n)
	if _, err := io.ReadFull(s.cfg.Random, buf); err != nil {
		return "", err
	}
	var b strings.Builder
	for _, c := range buf {
		b.WriteByte(alphabet[int(c)%len(alphabet)])
	}
	return b.String(), nil
}

// TrackingAlphabet avoids look-alike characters (0/O, 1/I/L).
const TrackingAlphabet = "23456789ABCDEFGHJKMNPQRSTUVWXYZ"

func (s *Service) trackingCode() (string, error) {
	raw, err := s.randomString(TrackingAlphabet, 12)
	if err != nil {
		return "", err
	}
	return raw[:4] + "-" + raw[4:8] + "-" + raw[8:], nil
}

// NormalizeTrackingCode upper-cases and re-hyphenates a code typed by a
// human, and rejects characters outside the alphabet.
func NormalizeTrackingCode(code string) (string, error) {
	raw := strings.ToUpper(strings.NewReplacer("-", "", " ", "").Replace(code))
	if len(raw) != 12 || strings.Trim(raw, TrackingAlphabet) != "" {
		return "", FieldError("tracking", "not a tracking code (12 characters like ABCD-EFGH-JKMN)")
	}
	return raw[:4] + "-" + raw[4:8] + "-" + raw[8:], nil
}

func checkText(field, v string, required bool, max int) error {
	if !utf8.ValidString(v) || strings.ContainsRune(v, 0) {
		return FieldError(field, "%s must be valid UTF-8 text without NUL characters", field)
	}
	if required && strings.TrimSpace(v) == "" {
		return FieldError(field, "%s is required", field)
	}
	if len([]rune(v)) > max {
		return FieldError(field, "%s is longer than %d characters", field, max)
	}
	return nil
}

func (s *Service) checkCategory(c string) error {
	for _, k := range s.cfg.Categories {
		if k == c {
			return nil
		}
	}
	return FieldError("category", "unknown category %q (categories: %s)", c, strings.Join(s.cfg.Categories, ", "))
}

func checkSubject(sub Subject) error {
	if err := checkText("subject.name", sub.Name, true, 300); err != nil {
		return err
	}
	return checkText("subject.registry_id", sub.RegistryID, false, 100)
}

// CheckPriority validates a priority.
func CheckPriority(p Priority) error {
	for _, q := range Priorities {
		if p == q {
			return nil
		}
	}
	return FieldError("priority", "unknown priority %q (low, normal, high, critical)", p)
}

// PageLimit applies the page bounds of list endpoints: DefaultLimit when
// n <= 0, at most MaxLimit. Stores and the API use it alike.
func PageLimit(n int) int {
	if n <= 0 {
		return DefaultLimit
	}
	return min(n, MaxLimit)
}
