package dbutil

import (
	"cmp"
	"fmt"
	"io/fs"
	"path"
	"regexp"
	"slices"
	"strconv"
	"time"
)

// Migration is one embedded SQL file, migrations/<version>_<name>.sql.
type Migration struct {
	Version int64
	Name    string
	SQL     string
}

// MigrationState is one migration as known to the binary and/or the
// database, whichever engine.
type MigrationState struct {
	Version   int64
	Name      string // "" for a version applied by a newer binary that did not record its name
	Applied   bool
	AppliedAt *time.Time // nil when not applied
}

var migrationFileRE = regexp.MustCompile(`^([0-9]+)_([a-z0-9_]+)\.sql$`)

// LoadMigrations reads dir/*.sql of fsys, version ascending. A file not
// named <version>_<name>.sql, a version <= 0 or two files with one version
// are an error naming the file.
func LoadMigrations(fsys fs.FS, dir string) ([]Migration, error) {
	entries, err := fs.ReadDir(fsys, dir)
	if err != nil {
		return nil, fmt.Errorf("read migrations: %w", err)
	}
	var ms []Migration
	seen := map[int64]string{}
	for _, e := range entries {
		m := migrationFileRE.FindStringSubmatch(e.Name())
		if m == nil {
			return nil, fmt.Errorf("migration file %q is not named <version>_<name>.sql", e.Name())
		}
		v, err := strconv.ParseInt(m[1], 10, 64)
		if err != nil || v <= 0 {
			return nil, fmt.Errorf("migration file %q: bad version", e.Name())
		}
		if prev, dup := seen[v]; dup {
			return nil, fmt.Errorf("migration files %q and %q share version %d", prev, e.Name(), v)
		}
		seen[v] = e.Name()
		body, err := fs.ReadFile(fsys, path.Join(dir, e.Name()))
		if err != nil {
			return nil, fmt.Errorf("read migration %q: %w", e.Name(), err)
		}
		ms = append(ms, Migration{Version: v, Name: m[2], SQL: string(body)})
	}
	slices.SortFunc(ms, func(a, b Migration) int { return cmp.Compare(a.Version, b.Version) })
	return ms, nil
}

// MustLoadMigrations is LoadMigrations for the embedded files: a bad file
// is a build defect, so it panics (at package init, failing every test).
func MustLoadMigrations(fsys fs.FS, dir, engine string) []Migration {
	ms, err := LoadMigrations(fsys, dir)
	if err != nil {
		panic(engine + ": embedded migrations: " + err.Error())
	}
	return ms
}

// Latest returns the highest version of ms (ascending), 0 for none: the
// schema version the binary was built for.
func Latest(ms []Migration) int64 {
	if len(ms) == 0 {
		return 0
	}
	return ms[len(ms)-1].Version
}

// Versions returns the versions of ms, in order.
func Versions(ms []Migration) []int64 {
	vs := make([]int64, len(ms))
	for i, m := range ms {
		vs[i] = m.Version
	}
	return vs
}

// Pending returns the migrations of ms (ascending) whose version is not in
// applied, in order.
func Pending(ms []Migration, applied map[int64]MigrationState) []Migration {
	var out []Migration
	for _, m := range ms {
		if _, ok := applied[m.Version]; !ok {
			out = append(out, m)
		}
	}
	return out
}

// Status lists every migration of ms, applied or not, then every applied
// version ms does not know (a newer binary applied it), version ascending.
// applied maps a version to its recorded state (Applied set).
func Status(ms []Migration, applied map[int64]MigrationState) []MigrationState {
	out := make([]MigrationState, 0, len(ms))
	known := map[int64]bool{}
	for _, m := range ms {
		known[m.Version] = true
		s, ok := applied[m.Version]
		if !ok {
			s = MigrationState{Version: m.Version, Name: m.Name}
		}
		if s.Name == "" {
			s.Name = m.Name
		}
		out = append(out, s)
	}
	for v, s := range applied {
		if !known[v] {
			out = append(out, s)
		}
	}
	slices.SortFunc(out, func(a, b MigrationState) int { return cmp.Compare(a.Version, b.Version) })
	return out
}

// SchemaVersion returns the highest applied version (0 for none).
func SchemaVersion(applied map[int64]MigrationState) int64 {
	var v int64
	for k := range applied {
		v = max(v, k)
	}
	return v
}
