package pgtest_test

import (
	"context"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/regcase/regcase/internal/pgtest"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

func TestNewDatabase(t *testing.T) {
	srv := pgtest.Start(t)
	db := srv.CreateDatabase(t)
	ctx := context.Background()

	t.Run("OwnerOwnsDatabase", func(t *testing.T) {
		conn := connect(t, db.OwnerURL)
		var owner, current string
		err := conn.QueryRow(ctx, `SELECT pg_get_userbyid(datdba), current_user FROM pg_database WHERE datname = current_database()`).Scan(&owner, &current)
		if err != nil {
			t.Fatal(err)
		}
		if got, want := owner, current; got != want {
			t.Errorf("database owner = %q, want the owner role %q", got, want)
		}
		if _, err := conn.Exec(ctx, `CREATE TABLE t (x int)`); err != nil {
			t.Errorf("owner cannot create a table: %v", err)
		}
	})
	t.Run("AppIsMemberOfRegcaseApp", func(t *testing.T) {
		conn := connect(t, db.AppURL)
		var member bool
		if err := conn.QueryRow(ctx, `SELECT pg_has_role(current_user, $1, 'USAGE')`, pgtest.AppGroupRole).Scan(&member); err != nil {
			t.Fatal(err)
		}
		if !member {
			t.Errorf("app role is not a member of %s", pgtest.AppGroupRole)
		}
	})
	t.Run("AdminIsSuperuser", func(t *testing.T) {
		conn := connect(t, db.AdminURL)
		var super bool
		if err := conn.QueryRow(ctx, `SELECT rolsuper FROM pg_roles WHERE rolname = current_user`).Scan(&super); err != nil {
			t.Fatal(err)
		}
		if !super {
			t.Error("admin URL is not a superuser")
		}
	})
	t.Run("DatabasesAreDistinct", func(t *testing.T) {
		other := srv.CreateDatabase(t)
		if other.Name == db.Name {
			t.Fatalf("two databases named %q", db.Name)
		}
	})
}

func TestDropOnCleanup(t *testing.T) {
	srv := pgtest.Start(t)
	var name string
	t.Run("Create", func(t *testing.T) {
		name = srv.CreateDatabase(t).Name
	})
	conn := connect(t, srv.URL)
	var n int
	if err := conn.QueryRow(context.Background(), `SELECT count(*) FROM pg_database WHERE datname = $1`, name).Scan(&n); err != nil {
		t.Fatal(err)
	}
	if n != 0 {
		t.Errorf("database %s still exists after its test ended", name)
	}
}

func connect(tb testing.TB, url string) *pgx.Conn {
	tb.Helper()
	conn, err := pgx.Connect(context.Background(), url)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { conn.Close(context.Background()) })
	return conn
}

func TestRestart(t *testing.T) {
	srv := pgtest.StartDedicated(t)
	db := srv.CreateDatabase(t)
	ctx := context.Background()
	conn := connect(t, db.OwnerURL)
	if _, err := conn.Exec(ctx, `CREATE TABLE kept (x int); INSERT INTO kept VALUES (42)`); err != nil {
		t.Fatal(err)
	}

	srv.Stop(t)
	if err := conn.Ping(ctx); err == nil {
		t.Fatal("a connection opened before Stop still answers: the server did not stop")
	}
	srv.Start(t)

	conn2 := connect(t, db.OwnerURL)
	var x int
	if err := conn2.QueryRow(ctx, `SELECT x FROM kept`).Scan(&x); err != nil || x != 42 {
		t.Errorf("after Stop and Start: SELECT x = %d, %v; want 42 (same data directory)", x, err)
	}
	srv.Restart(t)
	conn3 := connect(t, db.OwnerURL)
	if err := conn3.Ping(ctx); err != nil {
		t.Errorf("after Restart: %v", err)
	}
}
