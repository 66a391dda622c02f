package app

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	"github.com/regcase/regcase/internal/config"
	"github.com/regcase/regcase/internal/postgres"
	"github.com/regcase/regcase/internal/regcase"
	"github.com/regcase/regcase/internal/s3blob"
	"github.com/regcase/regcase/internal/sqlite"
	"github.com/regcase/regcase/internal/telemetry"
)

// migrationState is one migration, whichever engine.
type migrationState struct {
	Version   int64
	Name      string
	Applied   bool
	AppliedAt *time.Time
}

// database is a store plus its engine's migrator.
type database struct {
	regcase.Store
	engine  string
	latest  int64
	migrate func(ctx context.Context) ([]int64, error)
	status  func(ctx context.Context) ([]migrationState, error)
	pg      *postgres.DB // nil on SQLite
}

func openDatabase(ctx context.Context, c *config.Config) (*database, error) {
	return openDatabaseTraced(ctx, c, false)
}

// openDatabaseTraced is openDatabase with, when tracing, a client span per
// PostgreSQL statement (SQLite's query helpers trace on their own).
func openDatabaseTraced(ctx context.Context, c *config.Config, tracing bool) (*database, error) {
	if c.IsSQLite() {
		path := c.SQLitePath()
		if dir := filepath.Dir(path); dir != "" {
			if err := os.MkdirAll(dir, 0o700); err != nil {
				return nil, &config.Error{Var: "DATABASE_URL", Msg: fmt.Sprintf("cannot create directory for the SQLite file: %v", err)}
			}
			if err := ownerOnlyDir(dir); err != nil {
				return nil, &config.Error{Var: "DATABASE_URL", Msg: err.Error()}
			}
		}
		db, err := sqlite.OpenWith(ctx, path, sqlite.Options{Synchronous: sqlite.Synchronous(c.SQLiteSynchronous)})
		if err != nil {
			return nil, err
		}
		return &database{Store: db, engine: "sqlite", latest: sqlite.LatestVersion(), migrate: db.Migrate,
			status: migrationStatus(db.MigrationStatus)}, nil
	}
	db, err := postgres.Open(ctx, c.DatabaseURL, postgres.Options{MaxConns: int32(c.DBMaxConns), MinConns: int32(c.DBMinConns), Tracing: tracing})
	if err != nil {
		return nil, err
	}
	return &database{Store: db, engine: "postgres", latest: postgres.LatestVersion(), migrate: db.Migrate, pg: db,
		status: migrationStatus(db.MigrationStatus)}, nil
}

// migrationStatus adapts an engine's MigrationStatus to migrationState.
func migrationStatus[M sqlite.MigrationState | postgres.MigrationState](f func(context.Context) ([]M, error)) func(context.Context) ([]migrationState, error) {
	return func(ctx context.Context) ([]migrationState, error) {
		ms, err := f(ctx)
		out := make([]migrationState, len(ms))
		for i, m := range ms {
			out[i] = migrationState(m)
		}
		return out, err
	}
}

// schemaCheck is the readiness check: the database answers and its schema
// is the version this binary expects. Messages are safe to show on /health.
func schemaCheck(db *database, log *slog.Logger) func(ctx context.Context) error {
	var warned int64 = -1
	return func(ctx context.Context) error {
		if err := db.Ping(ctx); err != nil {
			return fmt.Errorf("database unreachable")
		}
		v, err := db.SchemaVersion(ctx)
		if err != nil {
			return fmt.Errorf("cannot read schema version")
		}
		switch {
		case v < db.latest:
			if warned != v {
				warned = v
				log.Error("database schema is older than this binary needs; run `regcase migrate`",
					slog.Int64("schema_version", v), slog.Int64("expected_version", db.latest))
			}
			return fmt.Errorf("schema version %d, expected %d: migrations pending", v, db.latest)
		case v > db.latest && warned != v:
			// Expand/contract keeps older binaries working on a newer schema
			// during a rolling update or an image rollback.
			warned = v
			log.Warn("database schema is newer than this binary; serving (expand/contract migrations keep it compatible)",
				slog.Int64("schema_version", v), slog.Int64("expected_version", db.latest))
		}
		return nil
	}
}

// keys are the key material of a process.
type keys struct {
	dataKey []byte
	signing ed25519.PrivateKey
	public  ed25519.PublicKey
}

// ensureKeys fills missing keys for the embedded mode (SQLite outside
// production) by reading or generating files in the data directory, which
// every command pointed at that directory shares. It never replaces a
// configured key. A command that encrypts reporter data or webhook secrets
// (all, api, seed, worker) without a data key is a configuration error.
func ensureKeys(c *config.Config, log *slog.Logger, cmd string) (*keys, error) {
	k := &keys{dataKey: c.DataKey, signing: c.SigningKey, public: c.PublicKey}
	if !c.IsSQLite() || c.Env == "production" {
		if k.dataKey == nil && (cmd == "all" || cmd == "api" || cmd == "seed" || cmd == "worker") {
			return nil, &config.Error{Var: "REGCASE_DATA_KEY", Msg: "required with PostgreSQL or in production: 32 bytes, base64 (openssl rand -base64 32)"}
		}
		return k, nil
	}
	if k.dataKey == nil {
		b, created, err := keyFile(filepath.Join(c.DataDir, "data.key"), 32)
		if err != nil {
			return nil, &config.Error{Var: "REGCASE_DATA_KEY", Msg: err.Error()}
		}
		if created {
			log.Warn("generated a reporter-data key in the data directory; back it up, without it reporter contact details are unreadable",
				slog.String("file", filepath.Join(c.DataDir, "data.key")))
		}
		k.dataKey = b
	}
	if k.signing == nil && k.public == nil { // a configured public key means the signer lives elsewhere
		b, created, err := keyFile(filepath.Join(c.DataDir, "audit-signing.key"), ed25519.SeedSize)
		if err != nil {
			return nil, &config.Error{Var: "REGCASE_AUDIT_SIGNING_KEY", Msg: err.Error()}
		}
		k.signing = ed25519.NewKeyFromSeed(b)
		k.public = k.signing.Public().(ed25519.PublicKey)
		if created {
			log.Warn("generated an audit signing key in the data directory; keep a copy of the public key outside the database host",
				slog.String("file", filepath.Join(c.DataDir, "audit-signing.key")),
				slog.String("public_key", base64.StdEncoding.EncodeToString(k.public)))
		}
	}
	return k, nil
}

func keyFile(path string, size int) ([]byte, bool, error) {
	if b, err := os.ReadFile(path); err == nil {
		raw, err := base64.StdEncoding.DecodeString(string(trimNL(b)))
		if err != nil || len(raw) != size {
			return nil, false, fmt.Errorf("%s is not a base64 key of %d bytes", path, size)
		}
		return raw, false, nil
	} else if !os.IsNotExist(err) {
		return nil, false, err
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, false, err
	}
	raw := make([]byte, size)
	if _, err := rand.Read(raw); err != nil {
		return nil, false, err
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return nil, false, err
	}
	defer f.Close()
	if _, err := f.WriteString(base64.StdEncoding.EncodeToString(raw) + "\n"); err != nil {
		return nil, false, err
	}
	return raw, true, f.Sync()
}

func trimNL(b []byte) []byte {
	for len(b) > 0 && (b[len(b)-1] == '\n' || b[len(b)-1] == '\r') {
		b = b[:len(b)-1]
	}
	return b
}

// newService builds the domain service from the configuration.
func newService(c *config.Config, db regcase.Store, k *keys) (*regcase.Service, error) {
	lc := regcase.MustDefaultLifecycle()
	if c.LifecycleFile != "" {
		raw, err := os.ReadFile(c.LifecycleFile)
		if err != nil {
			return nil, &config.Error{Var: "REGCASE_LIFECYCLE_FILE", Msg: err.Error()}
		}
		if lc, err = regcase.ParseLifecycle(raw); err != nil {
			return nil, &config.Error{Var: "REGCASE_LIFECYCLE_FILE", Msg: err.Error()}
		}
	}
	var kr *regcase.Keyring
	if k.dataKey != nil {
		var err error
		if kr, err = regcase.NewKeyring(k.dataKey, rand.Reader); err != nil {
			return nil, &config.Error{Var: "REGCASE_DATA_KEY", Msg: err.Error()}
		}
	}
	sla := regcase.DefaultSLAPolicy()
	for p, d := range c.SLADays {
		sla[regcase.Priority(p)] = time.Duration(d) * 24 * time.Hour
	}
	breach, err := regcase.ParseBreachPolicy(c.Pipeline.SLABreachPolicy)
	if err != nil {
		return nil, &config.Error{Var: "REGCASE_SLA_BREACH_POLICY", Msg: err.Error()}
	}
	cats := c.Categories
	if len(cats) == 0 {
		cats = regcase.DefaultCategories
	}
	deadlines, err := regcase.ParseDeadlinePolicy(c.Deadlines, cats)
	if err != nil {
		return nil, &config.Error{Var: "REGCASE_DEADLINES", Msg: err.Error()}
	}
	auditKeys, err := auditKeySet(c, k)
	if err != nil {
		return nil, err
	}
	blobs, err := s3blob.Open(c.S3, db) // nil: attachment content stays in the database
	if err != nil {
		return nil, err
	}
	return regcase.NewService(regcase.Deps{Store: db, Blobs: blobs, Lifecycle: lc, Keyring: kr, SLA: sla, Categories: c.Categories,
		Deadlines: deadlines, DashboardMaxAge: dashboardMaxAge(c.DashboardMaxAge), CheckWebhookURL: webhookPolicy(c).CheckURL, Breach: breach,
		AnonymousAddr: regcase.AddrPolicy(c.AnonymousAddr), IdempotencyRetention: c.IdempotencyRetention,
		AttachmentMaxBytes: c.AttachmentMaxBytes, SpoolDir: c.AttachmentSpoolDir,
		TraceContext: telemetry.TraceContext, AuditKeys: auditKeys, AuditOrigin: c.AuditLog.Origin}), nil
}

// ownerOnlyDir tightens the directory of the SQLite file (the data
// directory, with the generated keys) to its owner (0700) when it is wider;
// the current directory is left alone.
func ownerOnlyDir(dir string) error {
	if dir == "." {
		return nil
	}
	st, err := os.Stat(dir)
	if err != nil {
		return err
	}
	if st.Mode().Perm()&0o077 != 0 {
		if err := os.Chmod(dir, st.Mode().Perm()&0o700); err != nil {
			return fmt.Errorf("restrict %s to its owner: %w", dir, err)
		}
	}
	return nil
}

// dashboardMaxAge maps REGCASE_DASHBOARD_MAX_AGE=0 (no reuse) to the
// service's "never" (negative).
func dashboardMaxAge(d time.Duration) time.Duration {
	if d == 0 {
		return -1
	}
	return d
}
