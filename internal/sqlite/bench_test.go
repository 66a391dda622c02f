package sqlite

import (
	"testing"

	"github.com/regcase/regcase/internal/storetest"
)

// BenchmarkDashboard100k is a fresh dashboard computation over 100,000
// cases: go test -run '^$' -bench Dashboard100k ./internal/sqlite/
func BenchmarkDashboard100k(b *testing.B) {
	if testing.Short() {
		b.Skip("seeds 100,000 cases")
	}
	storetest.BenchDashboard100k(b, migratedDB(b), nil)
}
