package postgres

import (
	"testing"

	"github.com/regcase/regcase/internal/storetest"
)

// BenchmarkDashboard100k is a fresh dashboard computation over 100,000
// cases, as the worker role: go test -run '^$' -bench Dashboard100k
// ./internal/postgres/. After the seed the table is vacuumed and analysed,
// as autovacuum does to a table that grew (the visibility map lets the
// counts read the indexes only).
func BenchmarkDashboard100k(b *testing.B) {
	if testing.Short() {
		b.Skip("seeds 100,000 cases")
	}
	db := newMigratedDB(b)
	storetest.BenchDashboard100k(b, db.Worker, func(tb testing.TB) {
		for _, t := range []string{"cases", "reports"} {
			if _, err := db.Bypass.Exec(tb.Context(), "VACUUM ANALYZE "+t); err != nil {
				tb.Fatalf("vacuum %s: %v", t, err)
			}
		}
	})
}
