package dbutil

import (
	"testing"
	"testing/fstest"
	"time"
)

func TestLoadMigrations(t *testing.T) {
	ok := fstest.MapFS{
		"migrations/0002_b.sql": {Data: []byte("SELECT 2")},
		"migrations/0001_a.sql": {Data: []byte("SELECT 1")},
	}
	ms, err := LoadMigrations(ok, "migrations")
	if err != nil {
		t.Fatal(err)
	}
	if len(ms) != 2 || ms[0].Version != 1 || ms[0].Name != "a" || ms[0].SQL != "SELECT 1" || ms[1].Version != 2 || Latest(ms) != 2 {
		t.Errorf("LoadMigrations = %+v, want 1_a then 2_b", ms)
	}
	for name, fsys := range map[string]fstest.MapFS{
		"BadName":   {"migrations/init.sql": {Data: []byte("x")}},
		"Zero":      {"migrations/0000_a.sql": {Data: []byte("x")}},
		"Duplicate": {"migrations/1_a.sql": {Data: []byte("x")}, "migrations/0001_b.sql": {Data: []byte("y")}},
	} {
		t.Run("Err"+name, func(t *testing.T) {
			if _, err := LoadMigrations(fsys, "migrations"); err == nil {
				t.Error("LoadMigrations succeeded")
			}
		})
	}
}

func TestStatus(t *testing.T) {
	ms := []Migration{{Version: 1, Name: "a"}, {Version: 2, Name: "b"}}
	at := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	applied := map[int64]MigrationState{
		1: {Version: 1, Applied: true, AppliedAt: &at},            // no name recorded
		9: {Version: 9, Name: "z", Applied: true, AppliedAt: &at}, // a newer binary's
	}
	got := Status(ms, applied)
	if len(got) != 3 || got[0].Name != "a" || !got[0].Applied || got[1].Applied || got[1].Name != "b" || got[2].Version != 9 || got[2].Name != "z" {
		t.Errorf("Status = %+v", got)
	}
	if p := Pending(ms, applied); len(p) != 1 || p[0].Version != 2 {
		t.Errorf("Pending = %+v, want 2_b", p)
	}
	if v := SchemaVersion(applied); v != 9 {
		t.Errorf("SchemaVersion = %d, want 9", v)
	}
}
