package app_test

import (
	"strings"
	"testing"
)

// TestSeedIdempotent: `regcase seed` loads the demo data once; a second run
// replays instead of duplicating, and the audit log still verifies.
func TestSeedIdempotent(t *testing.T) {
	forEachEngine(t, func(t *testing.T, engine string) {
		s := startServer(t, engine)
		for i, want := range []string{"4 reports created, 0 already present", "0 reports created, 4 already present"} {
			code, out, errOut := s.CLI(t, "seed")
			if code != 0 || !strings.Contains(out, want) {
				t.Fatalf("seed run %d: exit %d, stdout %q (want %q), stderr %s", i+1, code, out, want, errOut)
			}
		}
		var page struct {
			Items []struct {
				Title string `json:"title"`
			} `json:"items"`
		}
		s.must(t, 200, "GET", "/v1/cases", "supervisor", nil).JSON(t, &page)
		if got, want := len(page.Items), 1; got != want {
			t.Fatalf("cases after two seeds = %d, want %d", got, want)
		}
		if code, out, errOut := s.CLI(t, "audit", "verify"); code != 0 {
			t.Fatalf("audit verify after seeding: exit %d\n%s%s", code, out, errOut)
		}
	})
}
