// Package storetest is the one behavioural test suite for regcase.Store:
// every engine (sqlite, postgres) runs the very same tests through Run, so
// the two dialects cannot drift apart.
//
// The suite fixes what store.go leaves to the reader: times round-trip at
// microsecond precision, list filters match as documented on ReportFilter
// and CaseFilter (substring filters are case-insensitive and treat % and _
// literally), a page limit of 0 means regcase.DefaultLimit, ReportIDs are
// in link order, errors carry the codes of the Store contract.
package storetest

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"sort"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/regcase/regcase/internal/regcase"
)

// Harness is what an engine gives the suite.
type Harness struct {
	Store regcase.Store
	// Exec runs one SQL statement with full privileges, bypassing the
	// protections of the audit tables (triggers, grants); the tamper tests use it.
	Exec func(ctx context.Context, sql string) error
	// Dump returns everything a database holder can read (every row of
	// every table, as text; bytes as the engine renders them), or nil when
	// the engine has no dump; the erasure test searches it.
	Dump func(ctx context.Context) ([]byte, error)
	// Worker is the store as the worker connects to it (on PostgreSQL the
	// regcase_worker role, which alone may append to the Merkle tree); nil
	// means Store.
	Worker regcase.Store
}

// worker returns the store the worker's sequencer runs on.
func (h Harness) worker() regcase.Store {
	if h.Worker != nil {
		return h.Worker
	}
	return h.Store
}

// Run runs the suite; open returns a fresh, migrated, EMPTY store for each
// subtest and registers its cleanup with t.Cleanup. SQL given to Exec is
// portable between SQLite and PostgreSQL (literal values only).
func Run(t *testing.T, open func(t *testing.T) Harness) {
	t.Run("Reports", func(t *testing.T) { testReports(t, open) })
	t.Run("ListReports", func(t *testing.T) { testListReports(t, open) })
	t.Run("Cases", func(t *testing.T) { testCases(t, open) })
	t.Run("ListCases", func(t *testing.T) { testListCases(t, open) })
	t.Run("Notes", func(t *testing.T) { testNotes(t, open) })
	t.Run("Channel", func(t *testing.T) { testChannel(t, open) })
	t.Run("Tokens", func(t *testing.T) { testTokens(t, open) })
	t.Run("Outbox", func(t *testing.T) { testOutbox(t, open) })
	t.Run("InTx", func(t *testing.T) { testInTx(t, open) })
	t.Run("Intake", func(t *testing.T) { testIntake(t, open) })
	t.Run("Audit", func(t *testing.T) { testAudit(t, open) })
	t.Run("Checkpoints", func(t *testing.T) { testCheckpoints(t, open) })
	t.Run("Tamper", func(t *testing.T) { testTamper(t, open) })
	t.Run("Verify", func(t *testing.T) { testVerify(t, open) })
	t.Run("Merkle", func(t *testing.T) { testMerkle(t, open) })
	t.Run("ErasureLeavesNothing", func(t *testing.T) { testErasureLeavesNothing(t, open) })
	t.Run("Concurrency", func(t *testing.T) { testConcurrency(t, open) })
	t.Run("Relay", func(t *testing.T) { testRelay(t, open) })
	t.Run("MarkProcessed", func(t *testing.T) { testMarkProcessed(t, open) })
	t.Run("Leases", func(t *testing.T) { testLeases(t, open) })
	t.Run("OverdueCases", func(t *testing.T) { testOverdueCases(t, open) })
	t.Run("Webhooks", func(t *testing.T) { testWebhooks(t, open) })
	t.Run("Deliveries", func(t *testing.T) { testDeliveries(t, open) })
	t.Run("DeadEvents", func(t *testing.T) { testDeadEvents(t, open) })
	t.Run("Contacts", func(t *testing.T) { testContacts(t, open) })
	t.Run("Notifications", func(t *testing.T) { testNotifications(t, open) })
	t.Run("DueDeadlines", func(t *testing.T) { testDueDeadlines(t, open) })
	t.Run("Dashboard", func(t *testing.T) { testDashboard(t, open) })
	t.Run("DashboardMix", func(t *testing.T) { testDashboardMix(t, open) })
}

// opener is the argument of Run.
type opener = func(t *testing.T) Harness

// t0 is the suite's reference time: UTC, microsecond precision, as stored.
var t0 = time.Date(2026, 3, 1, 9, 30, 0, 123456000, time.UTC)

// day returns t0 plus n days.
func day(n int) time.Time { return t0.AddDate(0, 0, n) }

func ptr[T any](v T) *T { return &v }

func newID() string { return uuid.Must(uuid.NewV7()).String() }

func sha(s string) []byte {
	h := sha256.Sum256([]byte(s))
	return h[:]
}

// seq makes tracking codes and case numbers unique within the process.
var seq atomic.Int64

// newReport returns a valid, minimal report (status received, no reporter,
// no idempotency key), changed by mods.
func newReport(tb testing.TB, mods ...func(*regcase.Report)) *regcase.Report {
	tb.Helper()
	id := newID()
	r := &regcase.Report{
		ID:               id,
		TrackingCode:     fmt.Sprintf("TRK%08d", seq.Add(1)),
		StatusSecretHash: sha("secret-" + id),
		Channel:          regcase.ChannelWeb,
		Category:         "food-safety",
		Subject:          regcase.Subject{Name: "Corner Shop"},
		Description:      "Something happened",
		ReceivedAt:       t0,
		UpdatedAt:        t0,
		Status:           regcase.ReportReceived,
	}
	for _, m := range mods {
		m(r)
	}
	return r
}

// fullReport returns a report with every field set.
func fullReport(tb testing.TB) *regcase.Report {
	tb.Helper()
	return newReport(tb, func(r *regcase.Report) {
		r.Channel = regcase.ChannelInspection
		r.Category = "environment"
		r.Subject = regcase.Subject{Name: "Blue River Chemicals", RegistryID: "REG-0042"}
		r.Description = "Oil on the river, 'quoted' and \"double\" — ünïcode ✓"
		r.Location = "Riverside Park, gate 3"
		r.OccurredAt = ptr(t0.Add(-36 * time.Hour))
		r.ReceivedAt = t0
		r.UpdatedAt = t0.Add(time.Minute)
		r.HasReporter = true
		r.ReporterCipher = []byte{0x00, 0x01, 0xfe, 0xff, 0x10}
		r.WrappedKey = []byte{0xaa, 0xbb, 0x00, 0xcc}
		r.IdempotencyKey = "idem-" + r.ID
		r.RequestHash = sha("body-" + r.ID)
	})
}

// newCase returns a valid open case (version 1), changed by mods.
func newCase(tb testing.TB, mods ...func(*regcase.Case)) *regcase.Case {
	tb.Helper()
	c := &regcase.Case{
		ID:        newID(),
		Number:    fmt.Sprintf("CASE-2026-%06d", seq.Add(1)),
		Title:     "Case title",
		Subject:   regcase.Subject{Name: "Corner Shop"},
		Category:  "food-safety",
		Priority:  regcase.PriorityNormal,
		Status:    "open",
		OpenedAt:  t0,
		UpdatedAt: t0,
		SLA:       regcase.SLA{DueAt: day(30)},
		Version:   1,
	}
	for _, m := range mods {
		m(c)
	}
	return c
}

// mustTx runs fn in a transaction and fails tb on error.
func mustTx(tb testing.TB, s regcase.Store, fn func(regcase.Tx) error) {
	tb.Helper()
	if err := s.InTx(tb.Context(), fn); err != nil {
		tb.Fatalf("InTx: %v", err)
	}
}

// insertReports stores rs, one transaction for all.
func insertReports(tb testing.TB, s regcase.Store, rs ...*regcase.Report) {
	tb.Helper()
	mustTx(tb, s, func(tx regcase.Tx) error {
		for _, r := range rs {
			if err := tx.InsertReport(tb.Context(), r); err != nil {
				return fmt.Errorf("insert report %s: %w", r.ID, err)
			}
		}
		return nil
	})
}

// insertCases stores cs, one transaction for all.
func insertCases(tb testing.TB, s regcase.Store, cs ...*regcase.Case) {
	tb.Helper()
	mustTx(tb, s, func(tx regcase.Tx) error {
		for _, c := range cs {
			if err := tx.InsertCase(tb.Context(), c); err != nil {
				return fmt.Errorf("insert case %s: %w", c.ID, err)
			}
		}
		return nil
	})
}

// wantCode fails tb unless err carries code.
func wantCode(tb testing.TB, err error, code regcase.ErrorCode) {
	tb.Helper()
	if got := regcase.ErrorCodeOf(err); got != code {
		tb.Errorf("error code = %q (%v), want %q", got, err, code)
	}
}

// wantNoDiff fails tb when got and want differ.
func wantNoDiff(tb testing.TB, what string, got, want any) {
	tb.Helper()
	if d := diff(got, want); len(d) > 0 {
		tb.Errorf("%s differs:\n  %s", what, strings.Join(d, "\n  "))
	}
}

// wantIDs fails tb unless got lists exactly want, in order.
func wantIDs(tb testing.TB, got, want []string) {
	tb.Helper()
	if strings.Join(got, ",") != strings.Join(want, ",") {
		tb.Errorf("ids = %v, want %v", got, want)
	}
}

// idsDesc returns the IDs sorted descending: the order of ListReports and
// ListCases.
func idsDesc(ids ...string) []string {
	out := append([]string{}, ids...)
	sort.Sort(sort.Reverse(sort.StringSlice(out)))
	return out
}

var errBoom = errors.New("boom")
