package storetest

import (
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"testing"

	"github.com/regcase/regcase/internal/regcase"
)

// testErasureLeavesNothing: after a report's erasure, nothing a database
// holder can read — every row of every table (Harness.Dump), events and
// audit records included — holds the reporter's contact details or a value
// derivable from them without the platform key: neither the plaintext nor
// its SHA-256 nor the SHA-256 of the intake request that carried it (raw,
// hex or base64). Skipped when the engine gives no Dump.
// newService is a service on d.Store with a fresh random platform key
// and a spool directory of the test's own.
func newService(t *testing.T, d regcase.Deps) *regcase.Service {
	t.Helper()
	key := make([]byte, 32)
	_, _ = rand.Read(key)
	kr, err := regcase.NewKeyring(key, rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	d.Keyring, d.SpoolDir = kr, t.TempDir()
	return regcase.NewService(d)
}

func testErasureLeavesNothing(t *testing.T, open opener) {
	h := open(t)
	if h.Dump == nil {
		t.Skip("the engine's harness has no Dump")
	}
	ctx := t.Context()
	svc := newService(t, regcase.Deps{Store: h.Store})
	sup := regcase.Actor{ID: "token:sup", Role: regcase.RoleSupervisor, Addr: "127.0.0.1"}
	reporter := &regcase.Reporter{Name: "Wilhelmina Quarrington", Email: "w.quarrington@example.org", Phone: "+44 20 7946 0781"}
	in := regcase.SubmitReport{Channel: regcase.ChannelWeb, Category: "food_safety",
		Subject: regcase.Subject{Name: "Harbour Fish"}, Description: "Fish kept without ice", Reporter: reporter}
	sub, err := svc.Submit(ctx, regcase.Actor{ID: "public", Role: regcase.RoleAnonymous, Addr: "198.51.100.77"}, in, "idem-erasure-1")
	if err != nil {
		t.Fatal(err)
	}
	_, c, err := svc.Triage(ctx, sup, sub.Report.ID, regcase.TriageInput{NewCase: &regcase.NewCase{Priority: regcase.PriorityHigh}})
	if err != nil {
		t.Fatal(err)
	}
	const note = "Called the reporter back on the number given."
	if _, err := svc.AddNote(ctx, sup, c.ID, note); err != nil {
		t.Fatal(err)
	}
	if _, _, err := svc.GetReport(ctx, sup, sub.Report.ID, true); err != nil {
		t.Fatal(err)
	}
	canon, err := regcase.CanonicalJSON(in)
	if err != nil {
		t.Fatal(err)
	}
	secrets := map[string][]byte{
		"reporter name": []byte(reporter.Name), "reporter e-mail": []byte(reporter.Email),
		"reporter phone": []byte(reporter.Phone), "intake request": canon,
	}
	forms := func(what string, v []byte) map[string][]byte {
		sum := sha256.Sum256(v)
		return map[string][]byte{
			what + " (SHA-256)": sum[:], what + " (SHA-256, hex)": []byte(hex.EncodeToString(sum[:])),
			what + " (SHA-256, base64)":    []byte(base64.StdEncoding.EncodeToString(sum[:])),
			what + " (SHA-256, base64url)": []byte(base64.RawURLEncoding.EncodeToString(sum[:])),
			what + " (SHA-256, HEX)":       bytes.ToUpper([]byte(hex.EncodeToString(sum[:]))),
		}
	}
	search := func(t *testing.T, dump []byte, needles map[string][]byte) []string {
		var found []string
		for what, n := range needles {
			if bytes.Contains(dump, n) {
				found = append(found, what)
			}
		}
		return found
	}

	before, err := h.Dump(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if found := search(t, before, map[string][]byte{"idempotency key": []byte("idem-erasure-1")}); len(found) == 0 {
		t.Fatalf("the dump before erasure lacks the idempotency key: Dump does not see the reports table")
	}
	if bytes.Contains(before, []byte("198.51.100")) {
		t.Errorf("the anonymous reporter's address is in the database")
	}
	noteSum := sha256.Sum256([]byte(note))
	if bytes.Contains(before, []byte(hex.EncodeToString(noteSum[:]))) {
		t.Errorf("the note's plain SHA-256 is in the database (an audit reader could confirm a guessed note)")
	}

	if _, err := svc.Erase(ctx, sup, sub.Report.ID, "data protection request"); err != nil {
		t.Fatal(err)
	}
	after, err := h.Dump(ctx)
	if err != nil {
		t.Fatal(err)
	}
	needles := map[string][]byte{}
	for what, v := range secrets {
		needles[what] = v
		for k, f := range forms(what, v) {
			needles[k] = f
		}
	}
	if found := search(t, after, needles); len(found) > 0 {
		t.Errorf("after erasure the database still holds: %v", found)
	}
	// The idempotency key is the client's, not derived from the contact
	// details: it is cleared from the row (below) but an engine may keep
	// old page images a while (SQLite's WAL), so the dump is not searched.
	r, err := h.Store.GetReport(ctx, sub.Report.ID)
	if err != nil {
		t.Fatal(err)
	}
	if r.RequestHash != nil || r.IdempotencyKey != "" || r.WrappedKey != nil || r.ReporterCipher != nil {
		t.Errorf("erased report keeps request hash %x, idempotency key %q, key %x, cipher %x",
			r.RequestHash, r.IdempotencyKey, r.WrappedKey, r.ReporterCipher)
	}
	// The key is forgotten: the same key now takes in a new report.
	again, err := svc.Submit(ctx, regcase.Actor{ID: "public", Role: regcase.RoleAnonymous}, in, "idem-erasure-1")
	if err != nil {
		t.Fatalf("resubmit with the erased report's key: %v", err)
	}
	if again.Replayed || again.Report.ID == sub.Report.ID {
		t.Errorf("the erased report's Idempotency-Key still replays it")
	}
}
