package app

import (
	"crypto/rand"
	"os"
	"time"

	"github.com/regcase/regcase/internal/config"
	"github.com/regcase/regcase/internal/regcase"
	"github.com/regcase/regcase/internal/s3blob"
	"github.com/regcase/regcase/internal/telemetry"
)

// dashboardMaxAge maps REGCASE_DASHBOARD_MAX_AGE=0 (no reuse) to the
// service's "never" (negative).
func dashboardMaxAge(d time.Duration) time.Duration {
	if d == 0 {
		return -1
	}
	return d
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
