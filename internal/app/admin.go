package app

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"strings"
	"text/tabwriter"
	"time"

	"crypto/ed25519"
	"crypto/rand"

	"github.com/regcase/regcase/internal/buildinfo"
	"github.com/regcase/regcase/internal/config"
	"github.com/regcase/regcase/internal/httpapi"
	"github.com/regcase/regcase/internal/regcase"
)

func (e *env) version() error {
	bi := buildinfo.Get()
	fmt.Fprintf(e.stdout, "regcase %s\ncommit:  %s\nbuilt:   %s\ngo:      %s\n", bi.Version, bi.Commit, bi.BuildTime, bi.GoVersion)
	return nil
}

// healthcheck asks the local /health/ready; for Docker HEALTHCHECK.
func (e *env) healthcheck(ctx context.Context) error {
	addr := e.getenv("REGCASE_HTTP_ADDR")
	if addr == "" {
		addr = ":8080"
	}
	_, port, err := net.SplitHostPort(addr)
	if err != nil {
		return &config.Error{Var: "REGCASE_HTTP_ADDR", Msg: fmt.Sprintf("%q is not host:port", addr)}
	}
	ctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+net.JoinHostPort("127.0.0.1", port)+"/health/ready", nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return &exitError{code: ExitFailure, msg: "not ready: " + err.Error()}
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return &exitError{code: ExitFailure, msg: fmt.Sprintf("not ready: HTTP %d", resp.StatusCode)}
	}
	return nil
}

// adminSession opens the database and service for a one-shot command.
func (e *env) adminSession(ctx context.Context, cmd string) (*config.Config, *database, *regcase.Service, *keys, error) {
	c, err := config.Load(e.getenv, cmd)
	if err != nil {
		return nil, nil, nil, nil, err
	}
	log := newLogger(c, e.stderr)
	k, err := ensureKeys(c, log, cmd)
	if err != nil {
		return nil, nil, nil, nil, err
	}
	db, err := openDatabase(ctx, c)
	if err != nil {
		return nil, nil, nil, nil, err
	}
	if c.IsSQLite() { // the embedded mode owns its schema
		if _, err := db.migrate(ctx); err != nil {
			db.Close()
			return nil, nil, nil, nil, err
		}
	}
	svc, err := newService(c, db, k)
	if err != nil {
		db.Close()
		return nil, nil, nil, nil, err
	}
	return c, db, svc, k, nil
}

// migrate applies pending migrations (one migrator at a time, bounded by
// REGCASE_MIGRATE_TIMEOUT) or, with "status", lists them.
func (e *env) migrate(ctx context.Context) error {
	status := len(e.args) == 1 && e.args[0] == "status"
	if len(e.args) > 0 && !status {
		return &usageError{msg: "usage: regcase migrate [status]"}
	}
	c, err := config.Load(e.getenv, "migrate")
	if err != nil {
		return err
	}
	log := newLogger(c, e.stderr)
	timeout := time.Minute
	if v := e.getenv("REGCASE_MIGRATE_TIMEOUT"); v != "" {
		if timeout, err = time.ParseDuration(v); err != nil || timeout <= 0 {
			return &config.Error{Var: "REGCASE_MIGRATE_TIMEOUT", Msg: fmt.Sprintf("%q is not a positive duration", v)}
		}
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	db, err := openDatabase(ctx, c)
	if err != nil {
		return err
	}
	defer db.Close()
	if status {
		ms, err := db.status(ctx)
		if err != nil {
			return err
		}
		tw := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "VERSION\tNAME\tAPPLIED AT")
		for _, m := range ms {
			at := "pending"
			if m.Applied && m.AppliedAt != nil {
				at = m.AppliedAt.UTC().Format(time.RFC3339)
			}
			fmt.Fprintf(tw, "%d\t%s\t%s\n", m.Version, m.Name, at)
		}
		return tw.Flush()
	}
	start := time.Now()
	log.Info("migrating", "engine", db.engine, "target_version", db.latest, "timeout", timeout)
	applied, err := db.migrate(ctx)
	if err != nil {
		if ctx.Err() != nil {
			return &exitError{code: ExitFailure, msg: fmt.Sprintf("migration did not finish within %s (another migrator holding the lock?): %v", timeout, err)}
		}
		return err
	}
	log.Info("migrated", "applied", applied, "schema_version", db.latest, "duration", time.Since(start).Round(time.Millisecond).String())
	return nil
}

func (e *env) token(ctx context.Context) error {
	if len(e.args) == 0 {
		return &usageError{msg: "usage: regcase token create --role ROLE --name NAME | token list | token revoke ID | token notify ID|NAME --email ADDR [--notify on|off]"}
	}
	sub, args := e.args[0], e.args[1:]
	f, rest, err := flags(args, "role", "name", "email", "notify")
	if err != nil {
		return err
	}
	admin := regcase.SystemActor("cli")
	switch sub {
	case "create":
		if f["role"] == "" || f["name"] == "" || len(rest) > 0 {
			return &usageError{msg: "usage: regcase token create --role ROLE --name NAME"}
		}
		role, err := regcase.ParseRole(f["role"])
		if err != nil {
			return &usageError{msg: regcase.ErrorMessage(err)}
		}
		_, db, svc, _, err := e.adminSession(ctx, "token")
		if err != nil {
			return err
		}
		defer db.Close()
		t, secret, err := svc.CreateToken(ctx, admin, f["name"], role)
		if err != nil {
			return err
		}
		fmt.Fprintf(e.stderr, "created token %s (%s, role %s); it is shown once:\n", t.ID, t.Name, t.Role)
		fmt.Fprintln(e.stdout, secret)
		return nil
	case "list":
		_, db, svc, _, err := e.adminSession(ctx, "token")
		if err != nil {
			return err
		}
		defer db.Close()
		ts, err := svc.ListTokens(ctx, admin)
		if err != nil {
			return err
		}
		tw := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "ID\tNAME\tROLE\tCREATED\tREVOKED")
		for _, t := range ts {
			rev := "-"
			if t.RevokedAt != nil {
				rev = t.RevokedAt.UTC().Format(time.RFC3339)
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", t.ID, t.Name, t.Role, t.CreatedAt.UTC().Format(time.RFC3339), rev)
		}
		return tw.Flush()
	case "revoke":
		if len(rest) != 1 {
			return &usageError{msg: "usage: regcase token revoke ID"}
		}
		_, db, svc, _, err := e.adminSession(ctx, "token")
		if err != nil {
			return err
		}
		defer db.Close()
		if err := svc.RevokeToken(ctx, admin, rest[0]); err != nil {
			return err
		}
		fmt.Fprintf(e.stderr, "revoked %s\n", rest[0])
		return nil
	case "notify":
		return e.tokenNotify(ctx, admin, f, rest)
	}
	return &usageError{msg: fmt.Sprintf("unknown token command %q", sub)}
}

func (e *env) audit(ctx context.Context) error {
	if len(e.args) == 0 {
		return &usageError{msg: "usage: regcase audit verify|checkpoint|export|keygen|keys|prove|check-proof"}
	}
	sub := e.args[0]
	if sub == "check-proof" {
		return e.auditCheckProof()
	}
	f, rest, err := flags(e.args[1:], "public-key", "json", "witness", "keys", "origin", "record", "size", "from", "to")
	if err != nil {
		return err
	}
	if len(rest) > 0 {
		return &usageError{msg: fmt.Sprintf("unexpected argument %q", rest[0])}
	}
	switch sub {
	case "keygen":
		_, priv, err := ed25519.GenerateKey(rand.Reader)
		if err != nil {
			return err
		}
		origin := f["origin"]
		if origin == "" {
			origin = config.DefaultAuditOrigin(e.getenv)
		}
		_, vkey, err := regcase.NewNoteSigner(origin, priv)
		if err != nil {
			return &usageError{msg: regcase.ErrorMessage(err)}
		}
		fmt.Fprintf(e.stdout, "REGCASE_AUDIT_SIGNING_KEY=%s\nREGCASE_AUDIT_PUBLIC_KEY=%s\n# the note verifier key: add it to REGCASE_AUDIT_PUBLIC_KEYS and give it to auditors and witnesses\nREGCASE_AUDIT_PUBLIC_KEYS=%s\n",
			base64.StdEncoding.EncodeToString(priv.Seed()), base64.StdEncoding.EncodeToString(priv.Public().(ed25519.PublicKey)), vkey)
		return nil
	case "verify", "checkpoint", "export", "prove", "keys":
	default:
		return &usageError{msg: fmt.Sprintf("unknown audit command %q", sub)}
	}
	c, db, svc, k, err := e.adminSession(ctx, "audit")
	if err != nil {
		return err
	}
	defer db.Close()
	switch sub {
	case "checkpoint":
		if k.signing == nil {
			return &config.Error{Var: "REGCASE_AUDIT_SIGNING_KEY", Msg: "required to sign a checkpoint"}
		}
		cp, err := svc.Checkpoint(ctx, k.signing)
		if err != nil {
			return err
		}
		if cp == nil {
			fmt.Fprintln(e.stdout, "nothing new to checkpoint")
		} else {
			fmt.Fprintf(e.stdout, "checkpoint %d signed over %d chain heads (key %s)\n", cp.ID, len(cp.Heads), cp.KeyID)
		}
		return e.auditTreeCheckpoint(ctx, c, svc, k)
	case "prove":
		return e.auditProve(ctx, svc, f)
	case "keys":
		for _, vk := range svc.AuditKeys().VerifierKeys() {
			fmt.Fprintln(e.stdout, vk)
		}
		return nil
	case "export":
		cps, err := db.ListCheckpoints(ctx)
		if err != nil {
			return err
		}
		enc := json.NewEncoder(e.stdout)
		for _, c := range cps {
			if err := enc.Encode(httpapi.CheckpointBodyOf(c)); err != nil {
				return err
			}
		}
		return nil
	}
	pub := k.public
	if v := f["public-key"]; v != "" {
		b, err := base64.StdEncoding.DecodeString(strings.TrimSpace(v))
		if err != nil || len(b) != ed25519.PublicKeySize {
			return &usageError{msg: "--public-key must be a base64 Ed25519 public key"}
		}
		pub = b
	}
	if f["keys"] != "" { // the auditor's own key set replaces the configured one
		b, err := readLimited(f["keys"])
		if err != nil {
			return &usageError{msg: fmt.Sprintf("--keys: %v", err)}
		}
		ks, err := regcase.ParseAuditKeys(string(b))
		if err != nil {
			return &usageError{msg: "--keys: " + regcase.ErrorMessage(err)}
		}
		svc.SetAuditKeys(ks)
		if f["public-key"] == "" {
			pub = nil
		}
	}
	if src := f["witness"]; src != "" {
		ws, err := loadWitness(ctx, src, svc.AuditKeys().Union(pubKeys(c.AuditLog.Origin, pub)))
		if err != nil {
			return err
		}
		if len(ws) == 0 {
			return &usageError{msg: fmt.Sprintf("--witness %s holds no checkpoint", src)}
		}
		ctx = regcase.WithWitness(ctx, ws)
	}
	res, err := svc.VerifyAudit(ctx, regcase.SystemActor("cli"), pub)
	if err != nil {
		return err
	}
	if f["json"] == "true" {
		_ = json.NewEncoder(e.stdout).Encode(res)
	} else {
		sig := "signatures checked"
		if !res.Signed {
			sig = "signatures NOT checked (no public key: set REGCASE_AUDIT_PUBLIC_KEY)"
		}
		fmt.Fprintf(e.stdout, "records: %d  chains: %d  checkpoints: %d  unanchored: %d  %s  (%s)\n",
			res.Records, res.Chains, res.Checkpoints, res.Unanchored, sig, res.Duration)
		fmt.Fprintf(e.stdout, "merkle log: %d leaves  %d tree checkpoints  unsequenced: %d  witness checkpoints checked: %d\n",
			res.TreeSize, res.TreeCheckpoints, res.Unsequenced, res.WitnessCheckpoints)
		if ls := res.LiveState; ls != nil {
			fmt.Fprintf(e.stdout, "live rows compared with their history: %d  without a state snapshot: %d\n", ls.Checked, ls.Unchecked)
		}
	}
	if !res.OK {
		return &exitError{code: ExitDataErr, msg: fmt.Sprintf("audit verification FAILED (%d problems); first bad: %s", len(res.Problems), res.FirstBad)}
	}
	fmt.Fprintln(e.stdout, "audit log OK")
	return nil
}

// tokenNotify sets a token holder's notification address and opt-out.
func (e *env) tokenNotify(ctx context.Context, admin regcase.Actor, f map[string]string, rest []string) error {
	const usage = "usage: regcase token notify ID|NAME --email ADDR [--notify on|off]"
	if len(rest) != 1 || f["email"] == "" {
		return &usageError{msg: usage}
	}
	on := true
	switch f["notify"] {
	case "", "on":
	case "off":
		on = false
	default:
		return &usageError{msg: usage}
	}
	_, db, svc, _, err := e.adminSession(ctx, "token")
	if err != nil {
		return err
	}
	defer db.Close()
	c, err := svc.SetContact(ctx, admin, regcase.ContactInput{ActorID: rest[0], Email: f["email"], Notify: on})
	if err != nil {
		return err
	}
	state := "on"
	if !c.Notify {
		state = "off (opted out)"
	}
	fmt.Fprintf(e.stderr, "notifications for %s (%s): %s, %s\n", c.ActorID, c.Role, c.Email, state)
	return nil
}
