package pgtest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net/url"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
)

// AppGroupRole is the NOLOGIN role the application's login role belongs to;
// the migrations grant it the application's privileges. It is cluster-wide.
const AppGroupRole = "regcase_app"

// WorkerGroupRole is the NOLOGIN role of the worker's login role: a member of
// AppGroupRole that alone may insert audit checkpoints. It is cluster-wide.
const WorkerGroupRole = "regcase_worker"

// Database is a fresh database with its own roles.
type Database struct {
	Name string
	// OwnerURL connects as the owner: a LOGIN role with CREATEROLE that owns
	// the database, for running migrations.
	OwnerURL string
	// AppURL connects as a LOGIN role that is a member of regcase_app.
	AppURL string
	// WorkerURL connects as a LOGIN role that is a member of regcase_worker
	// (what `regcase worker`, `regcase all` and `audit checkpoint` use).
	WorkerURL string
	// AdminURL connects to the database as the server's superuser.
	AdminURL string
}

// NewDatabase creates a fresh database and returns the owner's and the
// application role's URLs. Everything is dropped when tb ends.
func (s *Server) NewDatabase(tb testing.TB) (ownerURL, appURL string) {
	tb.Helper()
	d := s.CreateDatabase(tb)
	return d.OwnerURL, d.AppURL
}

// CreateDatabase is NewDatabase returning every URL, including the
// superuser's.
func (s *Server) CreateDatabase(tb testing.TB) *Database {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()

	name := "rc_" + randomHex(6)
	owner, app, worker := name+"_owner", name+"_app", name+"_wrk"
	ownerPW, appPW, workerPW := randomHex(16), randomHex(16), randomHex(16)
	stmts := []string{
		fmt.Sprintf(`CREATE ROLE %s LOGIN CREATEROLE PASSWORD '%s'`, owner, ownerPW),
		fmt.Sprintf(`CREATE DATABASE %s OWNER %s`, name, owner),
		fmt.Sprintf(`CREATE ROLE %s LOGIN PASSWORD '%s'`, app, appPW),
		fmt.Sprintf(`CREATE ROLE %s LOGIN PASSWORD '%s'`, worker, workerPW),
	}
	tb.Cleanup(func() { s.dropDatabase(tb, name, owner, app, worker) })
	for _, role := range []string{AppGroupRole, WorkerGroupRole} {
		if err := s.ensureGroupRole(ctx, role); err != nil {
			tb.Fatalf("pgtest: create role %s: %v", role, err)
		}
	}
	stmts = append(stmts, fmt.Sprintf(`GRANT %s TO %s`, AppGroupRole, app), fmt.Sprintf(`GRANT %s TO %s`, WorkerGroupRole, worker))
	for _, q := range stmts {
		if _, err := s.admin.Exec(ctx, q); err != nil {
			tb.Fatalf("pgtest: %s: %v", firstWords(q), err)
		}
	}
	return &Database{
		Name:      name,
		OwnerURL:  s.urlFor(url.UserPassword(owner, ownerPW), name),
		AppURL:    s.urlFor(url.UserPassword(app, appPW), name),
		WorkerURL: s.urlFor(url.UserPassword(worker, workerPW), name),
		AdminURL:  s.urlFor(s.base.User, name),
	}
}

// ensureGroupRole creates the NOLOGIN role unless it exists; a concurrent
// creation (another test binary on the same server) is fine. The
// migrations grant it its privileges (and regcase_worker its membership of
// regcase_app).
func (s *Server) ensureGroupRole(ctx context.Context, role string) error {
	_, err := s.admin.Exec(ctx, `
		DO $$
		BEGIN
			IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = '`+role+`') THEN
				CREATE ROLE `+role+` NOLOGIN;
			END IF;
		END
		$$`)
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) && (pgErr.Code == "42710" || pgErr.Code == "23505") {
		return nil
	}
	return err
}

// dropDatabase removes the database and its roles (WITH FORCE ends the
// connections tests left open).
func (s *Server) dropDatabase(tb testing.TB, name, owner, app, worker string) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	for _, q := range []string{
		fmt.Sprintf(`DROP DATABASE IF EXISTS %s WITH (FORCE)`, name),
		fmt.Sprintf(`DROP ROLE IF EXISTS %s`, app),
		fmt.Sprintf(`DROP ROLE IF EXISTS %s`, worker),
		fmt.Sprintf(`DROP ROLE IF EXISTS %s`, owner),
	} {
		if _, err := s.admin.Exec(ctx, q); err != nil {
			tb.Errorf("pgtest: cleanup: %s: %v", firstWords(q), err)
		}
	}
}

// urlFor is the server's URL with another user and database.
func (s *Server) urlFor(u *url.Userinfo, database string) string {
	c := *s.base
	c.User = u
	c.Path = "/" + database
	return c.String()
}

// firstWords names a statement in messages without its password.
func firstWords(q string) string {
	n := 0
	for i, r := range q {
		if r == ' ' {
			n++
			if n == 3 {
				return q[:i]
			}
		}
	}
	return q
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
