package storetest

import (
	"errors"
	"fmt"
	"sync"
	"testing"

	"github.com/regcase/regcase/internal/regcase"
)

// parallel runs fn(i) for i in [0, n) in n goroutines released at once and
// returns their errors by i.
func parallel(n int, fn func(i int) error) []error {
	errs := make([]error, n)
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			<-start
			errs[i] = fn(i)
		})
	}
	close(start)
	wg.Wait()
	return errs
}

func testConcurrency(t *testing.T, open opener) {
	t.Run("OKAuditAppendsStayChained", func(t *testing.T) {
		s := open(t).Store
		const (
			writers = 8 // on their own chain each, and as many on one shared chain
			appends = 5 // per writer, one transaction each
		)
		errs := parallel(2*writers, func(i int) error {
			chain := "case:shared"
			if i < writers {
				chain = fmt.Sprintf("case:own-%d", i)
			}
			for j := range appends {
				r := newAudit(t, chain, i*appends+j)
				if err := s.InTx(t.Context(), func(tx regcase.Tx) error { return tx.AppendAudit(t.Context(), r) }); err != nil {
					return fmt.Errorf("writer %d append %d: %w", i, j, err)
				}
			}
			return nil
		})
		if err := errors.Join(errs...); err != nil {
			t.Fatal(err)
		}

		chains := byChain(scanAll(t, s))
		if len(chains) != writers+1 {
			t.Errorf("%d chains, want %d", len(chains), writers+1)
		}
		for chain, recs := range chains {
			want := appends
			if chain == "case:shared" {
				want = writers * appends
			}
			if len(recs) != want {
				t.Errorf("%s has %d records, want %d", chain, len(recs), want)
			}
			wantChained(t, recs)
		}
		heads, err := s.AuditHeads(t.Context())
		if err != nil {
			t.Fatalf("AuditHeads: %v", err)
		}
		for chain, recs := range chains {
			wantNoDiff(t, "head of "+chain, heads[chain], head(recs[len(recs)-1]))
		}
	})

	t.Run("OKOneIdempotencyKeyWinsOnce", func(t *testing.T) {
		s := open(t).Store
		const n = 20
		reports := make([]*regcase.Report, n)
		for i := range reports {
			reports[i] = newReport(t, func(r *regcase.Report) { r.IdempotencyKey = "same-key" })
		}
		errs := parallel(n, func(i int) error {
			return s.InTx(t.Context(), func(tx regcase.Tx) error { return tx.InsertReport(t.Context(), reports[i]) })
		})
		winner := -1
		for i, err := range errs {
			switch {
			case err == nil && winner >= 0:
				t.Errorf("reports %d and %d both inserted with one key", winner, i)
			case err == nil:
				winner = i
			case !errors.Is(err, regcase.ErrIdempotencyKeyTaken):
				t.Errorf("report %d: err = %v, want ErrIdempotencyKeyTaken", i, err)
			}
		}
		if winner < 0 {
			t.Fatalf("no report inserted")
		}
		got, err := s.GetReportByIdempotencyKey(t.Context(), "same-key")
		if err != nil {
			t.Fatalf("GetReportByIdempotencyKey: %v", err)
		}
		if got.ID != reports[winner].ID {
			t.Errorf("stored report %s, want the winner %s", got.ID, reports[winner].ID)
		}
	})
}
