package postgres

import (
	"context"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/regcase/regcase/internal/dbutil"
	"github.com/regcase/regcase/internal/regcase"
)

func allVersions() []int64 { return dbutil.Versions(migrations) }

func TestMigrate(t *testing.T) {
	ctx := context.Background()
	db := newTestDB(t)

	t.Run("EmptyDatabase", func(t *testing.T) {
		v, err := db.Owner.SchemaVersion(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if v != 0 {
			t.Errorf("SchemaVersion = %d, want 0", v)
		}
		st, err := db.Owner.MigrationStatus(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if got, want := len(st), len(migrations); got != want {
			t.Fatalf("MigrationStatus lists %d migrations, want %d", got, want)
		}
		for _, s := range st {
			if s.Applied || s.AppliedAt != nil {
				t.Errorf("migration %d reported applied before Migrate", s.Version)
			}
		}
	})
	t.Run("AppliesAll", func(t *testing.T) {
		applied, err := db.Owner.Migrate(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if got, want := applied, allVersions(); !slices.Equal(got, want) {
			t.Errorf("applied = %v, want %v", got, want)
		}
	})
	t.Run("AgainAppliesNone", func(t *testing.T) {
		applied, err := db.Owner.Migrate(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if len(applied) != 0 {
			t.Errorf("applied = %v, want none", applied)
		}
	})
	t.Run("Status", func(t *testing.T) {
		st, err := db.Owner.MigrationStatus(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if got, want := len(st), len(migrations); got != want {
			t.Fatalf("MigrationStatus lists %d migrations, want %d", got, want)
		}
		for i, s := range st {
			if s.Version != migrations[i].Version || s.Name != migrations[i].Name {
				t.Errorf("status[%d] = %d_%s, want %d_%s", i, s.Version, s.Name, migrations[i].Version, migrations[i].Name)
			}
			if !s.Applied || s.AppliedAt == nil || time.Since(*s.AppliedAt) > time.Hour {
				t.Errorf("migration %d: Applied %v at %v, want applied just now", s.Version, s.Applied, s.AppliedAt)
			}
		}
	})
	t.Run("SchemaVersionAsApp", func(t *testing.T) {
		app := openDB(t, db.AppURL)
		v, err := app.SchemaVersion(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if got, want := v, LatestVersion(); got != want || want < 1 {
			t.Errorf("SchemaVersion = %d, want LatestVersion %d (> 0)", got, want)
		}
	})
}

func TestMigrateConcurrent(t *testing.T) {
	ctx := context.Background()
	db := newTestDB(t)
	other := openDB(t, db.OwnerURL)

	var wg sync.WaitGroup
	results := make([][]int64, 2)
	errs := make([]error, 2)
	for i, d := range []*DB{db.Owner, other} {
		wg.Go(func() { results[i], errs[i] = d.Migrate(ctx) })
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("Migrate #%d: %v", i, err)
		}
	}
	got := [][]int64{results[0], results[1]}
	slices.SortFunc(got, func(a, b []int64) int { return len(a) - len(b) })
	if len(got[0]) != 0 || !slices.Equal(got[1], allVersions()) {
		t.Errorf("applied = %v and %v, want none and %v", results[0], results[1], allVersions())
	}
}

func TestMigrateWaitsForLock(t *testing.T) {
	ctx := context.Background()
	db := newTestDB(t)
	holder, err := db.Owner.Pool().Acquire(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer holder.Release()
	if _, err := holder.Exec(ctx, `SELECT pg_advisory_lock($1)`, migrateLockKey); err != nil {
		t.Fatal(err)
	}
	other := openDB(t, db.OwnerURL)

	t.Run("ErrUnavailableWhenContextEnds", func(t *testing.T) {
		cctx, cancel := context.WithTimeout(ctx, 300*time.Millisecond)
		defer cancel()
		start := time.Now()
		applied, err := other.Migrate(cctx)
		if got, want := regcase.ErrorCodeOf(err), regcase.EUnavailable; got != want {
			t.Fatalf("Migrate error = %v (%s), want %s", err, got, want)
		}
		if len(applied) != 0 {
			t.Errorf("applied %v while another migrator held the lock", applied)
		}
		if d := time.Since(start); d > 2*time.Second {
			t.Errorf("Migrate returned %v after its context ended", d)
		}
	})
	t.Run("OKOnceReleased", func(t *testing.T) {
		unlocked := make(chan error, 1)
		go func() {
			time.Sleep(300 * time.Millisecond)
			_, err := holder.Exec(ctx, `SELECT pg_advisory_unlock($1)`, migrateLockKey)
			unlocked <- err
		}()
		cctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		defer cancel()
		applied, err := other.Migrate(cctx)
		if uerr := <-unlocked; uerr != nil {
			t.Fatalf("unlock: %v", uerr)
		}
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(applied, allVersions()) {
			t.Errorf("applied = %v, want %v", applied, allVersions())
		}
	})
}
