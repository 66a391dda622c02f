package storetest

import (
	"testing"
	"time"

	"github.com/regcase/regcase/internal/regcase"
)

// acquire calls AcquireLease and fails tb on error.
func acquire(tb testing.TB, s regcase.Store, name, holder string, ttl time.Duration) bool {
	tb.Helper()
	ok, err := s.AcquireLease(tb.Context(), name, holder, ttl)
	if err != nil {
		tb.Fatalf("AcquireLease(%s, %s): %v", name, holder, err)
	}
	return ok
}

// testLeases checks lease semantics on the database's clock. The TTLs are
// short but the margins are wide (SQLite's clock has millisecond precision,
// and -race slows everything down).
func testLeases(t *testing.T, open opener) {
	t.Run("OKTakeRenewRefuse", func(t *testing.T) {
		s := open(t).Store
		if !acquire(t, s, "relay", "a", time.Minute) {
			t.Fatal("a free lease was refused")
		}
		if !acquire(t, s, "relay", "a", time.Minute) {
			t.Error("the holder could not renew its lease")
		}
		if acquire(t, s, "relay", "b", time.Minute) {
			t.Error("another holder took a lease that has not expired")
		}
		if !acquire(t, s, "sla", "b", time.Minute) {
			t.Error("a lease of another name was refused")
		}
	})
	t.Run("OKTakenAfterExpiry", func(t *testing.T) {
		s := open(t).Store
		const ttl = 300 * time.Millisecond
		if !acquire(t, s, "relay", "a", ttl) {
			t.Fatal("a free lease was refused")
		}
		if acquire(t, s, "relay", "b", ttl) {
			t.Fatal("another holder took a lease that has not expired")
		}
		time.Sleep(ttl + 300*time.Millisecond)
		if !acquire(t, s, "relay", "b", time.Minute) {
			t.Fatal("an expired lease was refused")
		}
		if acquire(t, s, "relay", "a", time.Minute) {
			t.Error("the former holder took back a lease another holder has")
		}
	})
	t.Run("OKRenewalExtends", func(t *testing.T) {
		s := open(t).Store
		const ttl = time.Second
		acquire(t, s, "relay", "a", ttl)
		time.Sleep(ttl * 6 / 10)
		if !acquire(t, s, "relay", "a", ttl) {
			t.Fatal("the holder could not renew its lease")
		}
		time.Sleep(ttl * 6 / 10) // past the first expiry, before the renewed one
		if acquire(t, s, "relay", "b", ttl) {
			t.Error("another holder took a renewed lease before it expired")
		}
	})
	t.Run("OKRelease", func(t *testing.T) {
		s := open(t).Store
		acquire(t, s, "relay", "a", time.Minute)
		if err := s.ReleaseLease(t.Context(), "relay", "b"); err != nil {
			t.Errorf("ReleaseLease by a non-holder: %v, want nil", err)
		}
		if acquire(t, s, "relay", "b", time.Minute) {
			t.Fatal("a non-holder's release freed the lease")
		}
		if err := s.ReleaseLease(t.Context(), "relay", "a"); err != nil {
			t.Fatalf("ReleaseLease: %v", err)
		}
		if !acquire(t, s, "relay", "b", time.Minute) {
			t.Error("a released lease was refused")
		}
		if err := s.ReleaseLease(t.Context(), "nothing", "a"); err != nil {
			t.Errorf("ReleaseLease of an unknown lease: %v, want nil", err)
		}
	})
	t.Run("ErrInvalidTTL", func(t *testing.T) {
		s := open(t).Store
		_, err := s.AcquireLease(t.Context(), "relay", "a", 0)
		wantCode(t, err, regcase.EInvalid)
	})
}

func testOverdueCases(t *testing.T, open opener) {
	t.Run("OK", func(t *testing.T) {
		s := open(t).Store
		late := newCase(t, func(c *regcase.Case) { c.SLA.DueAt = day(-2) })
		later := newCase(t, func(c *regcase.Case) { c.SLA.DueAt = day(-5) })
		tie := newCase(t, func(c *regcase.Case) { c.SLA.DueAt = day(-2) })
		insertCases(t, s, late, later, tie,
			newCase(t, func(c *regcase.Case) { c.SLA.DueAt = day(3) }),                                  // not due
			newCase(t, func(c *regcase.Case) { c.SLA.DueAt = t0 }),                                      // due exactly now
			newCase(t, func(c *regcase.Case) { c.SLA.DueAt, c.ClosedAt = day(-3), ptr(day(-1)) }),       // closed
			newCase(t, func(c *regcase.Case) { c.SLA.DueAt, c.SLA.PausedAt = day(-3), ptr(day(-4)) }),   // paused
			newCase(t, func(c *regcase.Case) { c.SLA.DueAt, c.SLA.BreachedAt = day(-3), ptr(day(-2)) }), // breached
		)
		want := []string{later.ID, min(late.ID, tie.ID), max(late.ID, tie.ID)}
		got, err := s.OverdueCases(t.Context(), t0, 10)
		if err != nil {
			t.Fatal(err)
		}
		wantIDs(t, got, want)
		got, err = s.OverdueCases(t.Context(), t0, 2)
		if err != nil {
			t.Fatal(err)
		}
		wantIDs(t, got, want[:2])
		if got, err := s.OverdueCases(t.Context(), t0, 0); err != nil || len(got) != 0 {
			t.Errorf("OverdueCases(limit 0) = %v, %v; want none", got, err)
		}
		if got, err := s.OverdueCases(t.Context(), day(-10), 10); err != nil || len(got) != 0 {
			t.Errorf("OverdueCases before any due date = %v, %v; want none", got, err)
		}
	})
}
