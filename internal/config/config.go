// Package config reads the platform's configuration from the environment
// once, validates it and describes it with secrets masked. Every secret can
// also be read from a file named by NAME_FILE (Docker, Swarm and Kubernetes
// secrets).
package config

import (
	"crypto/ed25519"
	"encoding/base64"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// Error is a configuration mistake; the message names the variable. The
// command line turns it into exit status 78 (EX_CONFIG).
type Error struct {
	Var string
	Msg string
}

func (e *Error) Error() string { return e.Var + ": " + e.Msg }

// Config is the whole configuration.
type Config struct {
	Env             string // development | test | production
	HTTPAddr        string
	DataDir         string
	DatabaseURL     string // secret: may carry a password
	RedisURL        string // secret
	LogLevel        slog.Level
	LogFormat       string // json | text
	ShutdownTimeout time.Duration
	DrainDelay      time.Duration
	DataKey         []byte             // secret: 32 bytes, reporter PII
	SigningKey      ed25519.PrivateKey // secret: audit checkpoints
	PublicKey       ed25519.PublicKey
	CheckpointEvery time.Duration
	OIDCIssuer      string
	OIDCAudience    string
	OIDCRoleClaim   string
	OIDCClientID    string // web console sign-in (authorization code flow)
	OIDCSecret      string // secret
	PublicURL       string // https://cases.example.gov: where browsers reach us
	DBMaxConns      int
	DBMinConns      int
	IntakeRate      float64 // public submissions per second per client address
	IntakeBurst     int
	MaxBodyBytes    int64
	TrustedProxies  []*net.IPNet
	// AnonymousAddr is what audit records and request logs keep of an
	// anonymous caller's address: "none" (default) or "prefix" (/24, /48).
	AnonymousAddr string
	// IdempotencyRetention: an intake Idempotency-Key replays the original
	// submission only while younger than this.
	IdempotencyRetention time.Duration
	LifecycleFile        string
	SLADays              map[string]int
	Categories           []string
	OTLPEndpoint         string
	Pipeline             Pipeline

	// AttachmentMaxBytes bounds one evidence file upload (413 beyond);
	// AttachmentSpoolDir holds uploads, encrypted, while they arrive
	// ("" = the system's temporary directory).
	AttachmentMaxBytes int64
	AttachmentSpoolDir string
	// SQLiteSynchronous is the embedded database's durability setting:
	// FULL (default; nothing committed is lost) or NORMAL (a power failure
	// may lose the last commits, never the database's integrity).
	SQLiteSynchronous string
	// PprofAddr, when set, serves net/http/pprof on this loopback address
	// (for profiling under load); empty = off.
	PprofAddr string
	SMTP      SMTP
	// Deadlines is REGCASE_DEADLINES (statutory deadline periods), parsed
	// with the categories when the service is built.
	Deadlines string
	// DashboardMaxAge: a computed supervisor dashboard is served again
	// for this long (0 = compute on every view).
	DashboardMaxAge time.Duration
	AuditLog        AuditLog
	// S3 stores attachment content in an S3-compatible bucket (off when
	// its endpoint is empty).
	S3 S3
}

// Pipeline configures the event pipeline: relay, consumers, webhooks, SLA.
type Pipeline struct {
	RelayEvery        time.Duration // idle poll of the outbox
	RelayBatch        int
	OutboxRetention   time.Duration // published events (and dedupe records) are kept this long
	StreamMaxLen      int64         // the relay waits while the stream holds this many entries
	Concurrency       int           // events handled at once per worker
	MaxDeliveries     int           // stream deliveries before an event is dead-lettered
	ClaimIdle         time.Duration // pending this long = its consumer is presumed dead
	WebhookTimeout    time.Duration
	WebhookAttempts   int
	BackoffBase       time.Duration
	BackoffMax        time.Duration
	WebhookAllow      []*net.IPNet // private/loopback networks receivers may live in
	WebhookHTTPS      bool         // only https receiver URLs (default in production)
	WebhookMaxBody    int64        // bytes of a receiver's answer read
	WebhookConcurrent int
	SLAScanEvery      time.Duration
	SLABreachPolicy   string // escalate | notify
}

// Getenv is os.Getenv's shape, so tests pass their own environment.
type Getenv func(string) string

type reader struct {
	get Getenv
	err error
}

func (r *reader) fail(v, format string, args ...any) {
	if r.err == nil {
		r.err = &Error{Var: v, Msg: fmt.Sprintf(format, args...)}
	}
}

func (r *reader) str(name, def string) string {
	if v := r.get(name); v != "" {
		return v
	}
	return def
}

// secret reads NAME or the file named by NAME_FILE (not both).
func (r *reader) secret(name string) string {
	v, file := r.get(name), r.get(name+"_FILE")
	if v != "" && file != "" {
		r.fail(name, "set either %s or %s_FILE, not both", name, name)
		return ""
	}
	if file == "" {
		return v
	}
	b, err := os.ReadFile(file)
	if err != nil {
		r.fail(name+"_FILE", "cannot read secret file: %v", errPath(err))
		return ""
	}
	return strings.TrimRight(string(b), "\r\n")
}

func errPath(err error) string {
	if pe, ok := err.(*os.PathError); ok {
		return pe.Op + " " + pe.Path + ": " + pe.Err.Error()
	}
	return err.Error()
}

func (r *reader) duration(name string, def time.Duration) time.Duration {
	v := r.get(name)
	if v == "" {
		return def
	}
	d, err := time.ParseDuration(v)
	if err != nil || d < 0 {
		r.fail(name, "%q is not a duration like 20s or 1m", v)
	}
	return d
}

func (r *reader) integer(name string, def, lo, hi int) int {
	v := r.get(name)
	if v == "" {
		return def
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < lo || n > hi {
		r.fail(name, "%q is not an integer between %d and %d", v, lo, hi)
	}
	return n
}

// Load reads the configuration for a command ("all", "api", "worker",
// "migrate", …). It returns an *Error naming the first bad variable.
func Load(get Getenv, command string) (*Config, error) {
	r := &reader{get: get}
	c := &Config{}
	c.Env = r.str("REGCASE_ENV", "development")
	switch c.Env {
	case "development", "test", "production":
	default:
		r.fail("REGCASE_ENV", "%q is not one of development, test, production", c.Env)
	}
	prod := c.Env == "production"
	defAddr := ":8080"
	if command == "all" && !prod {
		defAddr = "127.0.0.1:8080"
	}
	c.HTTPAddr = r.str("REGCASE_HTTP_ADDR", defAddr)
	if _, _, err := net.SplitHostPort(c.HTTPAddr); err != nil {
		r.fail("REGCASE_HTTP_ADDR", "%q is not host:port", c.HTTPAddr)
	}
	c.DataDir = r.str("REGCASE_DATA_DIR", "data")
	c.DatabaseURL = r.secret("DATABASE_URL")
	if c.DatabaseURL == "" {
		if prod && command != "all" {
			r.fail("DATABASE_URL", "required in production (postgres://user@host/db)")
		}
		c.DatabaseURL = "sqlite://" + filepath.ToSlash(filepath.Join(c.DataDir, "regcase.db"))
	}
	if !strings.HasPrefix(c.DatabaseURL, "postgres://") && !strings.HasPrefix(c.DatabaseURL, "postgresql://") && !strings.HasPrefix(c.DatabaseURL, "sqlite://") {
		r.fail("DATABASE_URL", "must start with postgres:// or sqlite://")
	}
	c.RedisURL = r.secret("REDIS_URL")
	if c.RedisURL != "" && !strings.HasPrefix(c.RedisURL, "redis://") && !strings.HasPrefix(c.RedisURL, "rediss://") {
		r.fail("REDIS_URL", "must start with redis:// or rediss://")
	}
	switch lv := strings.ToLower(r.str("LOG_LEVEL", "info")); lv {
	case "debug":
		c.LogLevel = slog.LevelDebug
	case "info":
		c.LogLevel = slog.LevelInfo
	case "warn", "warning":
		c.LogLevel = slog.LevelWarn
	case "error":
		c.LogLevel = slog.LevelError
	default:
		r.fail("LOG_LEVEL", "%q is not one of debug, info, warn, error", lv)
	}
	defFormat := "text"
	if prod {
		defFormat = "json"
	}
	c.LogFormat = r.str("LOG_FORMAT", defFormat)
	if c.LogFormat != "json" && c.LogFormat != "text" {
		r.fail("LOG_FORMAT", "%q is not json or text", c.LogFormat)
	}
	c.ShutdownTimeout = r.duration("REGCASE_SHUTDOWN_TIMEOUT", 20*time.Second)
	c.DrainDelay = r.duration("REGCASE_DRAIN_DELAY", 0)
	if c.DrainDelay >= c.ShutdownTimeout && c.ShutdownTimeout > 0 {
		r.fail("REGCASE_DRAIN_DELAY", "must be shorter than REGCASE_SHUTDOWN_TIMEOUT")
	}
	if k := r.secret("REGCASE_DATA_KEY"); k != "" {
		b, err := base64.StdEncoding.DecodeString(k)
		if err != nil || len(b) != 32 {
			r.fail("REGCASE_DATA_KEY", "must be 32 bytes, base64-encoded (openssl rand -base64 32)")
		}
		c.DataKey = b
	} else if prod && (command == "all" || command == "api" || command == "seed" || command == "worker") {
		r.fail("REGCASE_DATA_KEY", "required in production: 32 bytes, base64 (openssl rand -base64 32)")
	}
	if k := r.secret("REGCASE_AUDIT_SIGNING_KEY"); k != "" {
		b, err := base64.StdEncoding.DecodeString(k)
		if err != nil || len(b) != ed25519.SeedSize {
			r.fail("REGCASE_AUDIT_SIGNING_KEY", "must be a 32-byte Ed25519 seed, base64-encoded (regcase audit keygen)")
		} else {
			c.SigningKey = ed25519.NewKeyFromSeed(b)
			c.PublicKey = c.SigningKey.Public().(ed25519.PublicKey)
		}
	}
	if k := r.secret("REGCASE_AUDIT_PUBLIC_KEY"); k != "" {
		b, err := base64.StdEncoding.DecodeString(k)
		if err != nil || len(b) != ed25519.PublicKeySize {
			r.fail("REGCASE_AUDIT_PUBLIC_KEY", "must be a 32-byte Ed25519 public key, base64-encoded")
		} else {
			if c.PublicKey != nil && !c.PublicKey.Equal(ed25519.PublicKey(b)) {
				r.fail("REGCASE_AUDIT_PUBLIC_KEY", "does not match REGCASE_AUDIT_SIGNING_KEY")
			}
			c.PublicKey = b
		}
	}
	if prod && command == "worker" && c.SigningKey == nil {
		r.fail("REGCASE_AUDIT_SIGNING_KEY", "required for the worker in production: it signs audit checkpoints")
	}
	c.CheckpointEvery = r.duration("REGCASE_AUDIT_CHECKPOINT_INTERVAL", time.Minute)
	c.OIDCIssuer = r.str("REGCASE_OIDC_ISSUER", "")
	c.OIDCAudience = r.str("REGCASE_OIDC_AUDIENCE", "")
	c.OIDCRoleClaim = r.str("REGCASE_OIDC_ROLE_CLAIM", "regcase_role")
	c.OIDCClientID = r.str("REGCASE_OIDC_CLIENT_ID", "")
	c.OIDCSecret = r.secret("REGCASE_OIDC_CLIENT_SECRET")
	c.PublicURL = strings.TrimRight(r.str("REGCASE_PUBLIC_URL", ""), "/")
	r.auditLog(c)
	if c.OIDCClientID != "" {
		if c.OIDCIssuer == "" {
			r.fail("REGCASE_OIDC_ISSUER", "required when REGCASE_OIDC_CLIENT_ID is set")
		}
		if u, err := url.Parse(c.PublicURL); c.PublicURL == "" || err != nil || u.Scheme == "" || u.Host == "" {
			r.fail("REGCASE_PUBLIC_URL", "required for console sign-in with OIDC: the absolute URL browsers use, like https://cases.example.gov")
		}
	}
	if c.OIDCIssuer != "" {
		if u, err := url.Parse(c.OIDCIssuer); err != nil || u.Scheme == "" || u.Host == "" {
			r.fail("REGCASE_OIDC_ISSUER", "%q is not an absolute URL", c.OIDCIssuer)
		}
		if c.OIDCAudience == "" {
			r.fail("REGCASE_OIDC_AUDIENCE", "required when REGCASE_OIDC_ISSUER is set")
		}
	}
	c.SQLiteSynchronous = strings.ToUpper(r.str("REGCASE_SQLITE_SYNCHRONOUS", "FULL"))
	if c.SQLiteSynchronous != "FULL" && c.SQLiteSynchronous != "NORMAL" {
		r.fail("REGCASE_SQLITE_SYNCHRONOUS", "%q is not FULL or NORMAL", c.SQLiteSynchronous)
	}
	if c.PprofAddr = r.str("REGCASE_PPROF_ADDR", ""); c.PprofAddr != "" {
		host, _, err := net.SplitHostPort(c.PprofAddr)
		if ip := net.ParseIP(host); err != nil || (host != "localhost" && (ip == nil || !ip.IsLoopback())) {
			r.fail("REGCASE_PPROF_ADDR", "%q must be a loopback host:port like 127.0.0.1:6060 (profiles reveal internals)", c.PprofAddr)
		}
	}
	c.DBMaxConns = r.integer("REGCASE_DB_MAX_CONNS", 10, 1, 1000)
	c.DBMinConns = r.integer("REGCASE_DB_MIN_CONNS", 1, 0, 1000)
	if c.DBMinConns > c.DBMaxConns {
		r.fail("REGCASE_DB_MIN_CONNS", "must not exceed REGCASE_DB_MAX_CONNS")
	}
	rate := r.str("REGCASE_INTAKE_RATE", "5")
	f, err := strconv.ParseFloat(rate, 64)
	if err != nil || f <= 0 {
		r.fail("REGCASE_INTAKE_RATE", "%q is not a positive number of requests per second", rate)
	}
	c.IntakeRate = f
	c.IntakeBurst = r.integer("REGCASE_INTAKE_BURST", 20, 1, 1_000_000)
	c.MaxBodyBytes = int64(r.integer("REGCASE_MAX_BODY_BYTES", 1<<20, 1024, 64<<20))
	c.TrustedProxies = r.cidrs("REGCASE_TRUSTED_PROXIES")
	c.AnonymousAddr = r.str("REGCASE_ANONYMOUS_ADDR", "none")
	if c.AnonymousAddr != "none" && c.AnonymousAddr != "prefix" {
		r.fail("REGCASE_ANONYMOUS_ADDR", "%q: want none (keep nothing) or prefix (/24 of IPv4, /48 of IPv6)", c.AnonymousAddr)
	}
	c.IdempotencyRetention = r.duration("REGCASE_IDEMPOTENCY_RETENTION", 24*time.Hour)
	c.AttachmentMaxBytes = int64(r.integer("REGCASE_ATTACHMENT_MAX_BYTES", 25<<20, 1024, 1<<30))
	c.AttachmentSpoolDir = r.str("REGCASE_ATTACHMENT_SPOOL_DIR", "")
	c.LifecycleFile = r.str("REGCASE_LIFECYCLE_FILE", "")
	c.SLADays = map[string]int{}
	if v := r.get("REGCASE_SLA_DAYS"); v != "" {
		for _, kv := range strings.Split(v, ",") {
			k, d, ok := strings.Cut(strings.TrimSpace(kv), "=")
			n, err := strconv.Atoi(d)
			if !ok || err != nil || n <= 0 {
				r.fail("REGCASE_SLA_DAYS", "%q: want priority=days pairs like critical=2,high=7,normal=30,low=90", kv)
				continue
			}
			switch k {
			case "low", "normal", "high", "critical":
				c.SLADays[k] = n
			default:
				r.fail("REGCASE_SLA_DAYS", "unknown priority %q", k)
			}
		}
	}
	if v := r.get("REGCASE_CATEGORIES"); v != "" {
		for _, cat := range strings.Split(v, ",") {
			if cat = strings.TrimSpace(cat); cat != "" {
				c.Categories = append(c.Categories, cat)
			}
		}
	}
	c.OTLPEndpoint = r.str("OTEL_EXPORTER_OTLP_ENDPOINT", "")
	r.pipeline(&c.Pipeline, prod)
	r.people(c)
	r.s3(c)
	if r.err != nil {
		return nil, r.err
	}
	return c, nil
}

func (r *reader) pipeline(p *Pipeline, prod bool) {
	switch v := r.str("REGCASE_WEBHOOK_REQUIRE_HTTPS", strconv.FormatBool(prod)); v {
	case "true", "false":
		p.WebhookHTTPS = v == "true"
	default:
		r.fail("REGCASE_WEBHOOK_REQUIRE_HTTPS", "%q is not true or false", v)
	}
	p.RelayEvery = r.duration("REGCASE_RELAY_INTERVAL", 50*time.Millisecond)
	p.RelayBatch = r.integer("REGCASE_RELAY_BATCH", 500, 1, 10_000)
	p.OutboxRetention = r.duration("REGCASE_OUTBOX_RETENTION", 7*24*time.Hour)
	p.StreamMaxLen = int64(r.integer("REGCASE_STREAM_MAXLEN", 100_000, 1000, 100_000_000))
	p.Concurrency = r.integer("REGCASE_WORKER_CONCURRENCY", 16, 1, 1024)
	p.MaxDeliveries = r.integer("REGCASE_WORKER_MAX_DELIVERIES", 5, 1, 100)
	p.ClaimIdle = r.duration("REGCASE_WORKER_CLAIM_IDLE", 30*time.Second)
	p.WebhookTimeout = r.duration("REGCASE_WEBHOOK_TIMEOUT", 10*time.Second)
	p.WebhookAttempts = r.integer("REGCASE_WEBHOOK_MAX_ATTEMPTS", 8, 1, 100)
	p.BackoffBase = r.duration("REGCASE_WEBHOOK_BACKOFF_BASE", 10*time.Second)
	p.BackoffMax = r.duration("REGCASE_WEBHOOK_BACKOFF_MAX", time.Hour)
	p.WebhookMaxBody = int64(r.integer("REGCASE_WEBHOOK_MAX_RESPONSE_BYTES", 64<<10, 0, 16<<20))
	p.WebhookConcurrent = r.integer("REGCASE_WEBHOOK_CONCURRENCY", 32, 1, 1024)
	p.SLAScanEvery = r.duration("REGCASE_SLA_SCAN_INTERVAL", 30*time.Second)
	p.SLABreachPolicy = r.str("REGCASE_SLA_BREACH_POLICY", "escalate")
	if p.SLABreachPolicy != "escalate" && p.SLABreachPolicy != "notify" {
		r.fail("REGCASE_SLA_BREACH_POLICY", "%q is not escalate or notify", p.SLABreachPolicy)
	}
	for name, d := range map[string]time.Duration{"REGCASE_RELAY_INTERVAL": p.RelayEvery, "REGCASE_WORKER_CLAIM_IDLE": p.ClaimIdle,
		"REGCASE_WEBHOOK_TIMEOUT": p.WebhookTimeout, "REGCASE_WEBHOOK_BACKOFF_BASE": p.BackoffBase, "REGCASE_SLA_SCAN_INTERVAL": p.SLAScanEvery} {
		if d <= 0 && r.err == nil {
			r.fail(name, "must be a positive duration")
		}
	}
	if p.BackoffMax < p.BackoffBase {
		r.fail("REGCASE_WEBHOOK_BACKOFF_MAX", "must not be shorter than REGCASE_WEBHOOK_BACKOFF_BASE")
	}
	p.WebhookAllow = r.cidrs("REGCASE_WEBHOOK_ALLOW_NETS")
}

// cidrs reads a list of CIDRs separated by commas or spaces.
func (r *reader) cidrs(name string) []*net.IPNet {
	var out []*net.IPNet
	for _, cidr := range strings.FieldsFunc(r.get(name), func(r rune) bool { return r == ',' || r == ' ' }) {
		_, n, err := net.ParseCIDR(cidr)
		if err != nil {
			r.fail(name, "%q is not a CIDR like 10.0.0.0/8", cidr)
			continue
		}
		out = append(out, n)
	}
	return out
}

// IsSQLite reports whether the database is the embedded SQLite file.
func (c *Config) IsSQLite() bool { return strings.HasPrefix(c.DatabaseURL, "sqlite://") }

// SQLitePath is the file path of a sqlite:// URL.
func (c *Config) SQLitePath() string { return strings.TrimPrefix(c.DatabaseURL, "sqlite://") }

// LogAttrs describes the configuration with every secret masked.
func (c *Config) LogAttrs() []any {
	return []any{
		slog.String("env", c.Env), slog.String("http_addr", c.HTTPAddr), slog.String("data_dir", c.DataDir),
		slog.String("database_url", MaskURL(c.DatabaseURL)), slog.String("redis_url", MaskURL(c.RedisURL)),
		slog.String("log_level", c.LogLevel.String()), slog.String("log_format", c.LogFormat),
		slog.Duration("shutdown_timeout", c.ShutdownTimeout), slog.Bool("data_key_set", c.DataKey != nil),
		slog.Bool("audit_signing_key_set", c.SigningKey != nil), slog.Bool("audit_public_key_set", c.PublicKey != nil),
		slog.String("oidc_issuer", c.OIDCIssuer), slog.Int("db_max_conns", c.DBMaxConns), slog.String("sqlite_synchronous", c.SQLiteSynchronous),
		slog.Float64("intake_rate", c.IntakeRate), slog.Int("intake_burst", c.IntakeBurst),
		slog.Int64("max_body_bytes", c.MaxBodyBytes), slog.String("anonymous_addr", c.AnonymousAddr),
		slog.Duration("idempotency_retention", c.IdempotencyRetention),
		slog.Int64("attachment_max_bytes", c.AttachmentMaxBytes), slog.String("attachment_spool_dir", c.AttachmentSpoolDir),
		c.smtpAttrs(), c.s3Attrs(), slog.String("deadlines", c.Deadlines),
		slog.String("audit_origin", c.AuditLog.Origin), slog.Int("audit_public_keys", len(c.AuditLog.PublicKeys)),
		slog.String("audit_witness_dir", c.AuditLog.WitnessDir),
	}
}

// MaskURL hides the password of a URL; unparsable values are fully masked.
func MaskURL(s string) string {
	if s == "" {
		return ""
	}
	u, err := url.Parse(s)
	if err != nil {
		return "****"
	}
	if _, has := u.User.Password(); has {
		u.User = url.UserPassword(u.User.Username(), "****")
	}
	q := u.Query()
	for k := range q {
		if strings.Contains(strings.ToLower(k), "password") {
			q.Set(k, "****")
		}
	}
	u.RawQuery = q.Encode()
	return u.String()
}
