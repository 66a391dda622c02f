package app

import (
	"context"
	"crypto/ed25519"
	"log/slog"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/mod/sumdb/note"

	"github.com/regcase/regcase/internal/regcase"
)

// treeSigner is the Merkle log's half of the checkpoint step: it sequences
// new audit records into the tree, signs a tlog checkpoint when the tree
// grew and copies it to the witness directory. The outbox event that takes
// it to every gov.regcase.audit.checkpoint subscriber is written by the
// same transaction as the checkpoint.
type treeSigner struct {
	log        *slog.Logger
	svc        *regcase.Service
	store      regcase.Store // reads the newest checkpoint after a round
	signer     note.Signer
	witnessDir string
	warned     bool // about a database role that may not sequence

	outcomes   *prometheus.CounterVec
	witness    *prometheus.CounterVec
	size       prometheus.Gauge
	lastSigned prometheus.Gauge
	fresh      prometheus.Gauge
}

func newTreeSigner(p *process, reg prometheus.Registerer) *treeSigner {
	ts := &treeSigner{log: p.log, svc: p.svc, store: p.db, witnessDir: p.cfg.AuditLog.WitnessDir,
		outcomes: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "regcase_audit_tree_checkpoints_total",
			Help: "Merkle log checkpoint rounds by outcome (signed, nothing_new, forbidden, error)."}, []string{"outcome"}),
		witness: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "regcase_audit_witness_writes_total",
			Help: "Checkpoint copies written to REGCASE_AUDIT_WITNESS_DIR by outcome (written, error)."}, []string{"outcome"}),
		size: prometheus.NewGauge(prometheus.GaugeOpts{Name: "regcase_audit_tree_size",
			Help: "Leaves of the Merkle audit log after the last round of this process."}),
		lastSigned: prometheus.NewGauge(prometheus.GaugeOpts{Name: "regcase_audit_checkpoint_last_signed_timestamp_seconds",
			Help: "When the newest Merkle log checkpoint was signed (by any replica)."}),
		fresh: prometheus.NewGauge(prometheus.GaugeOpts{Name: "regcase_audit_checkpoint_fresh_timestamp_seconds",
			Help: "When this process last saw every sequenced audit record covered by a signed checkpoint (the end of a successful round)."}),
	}
	interval := prometheus.NewGauge(prometheus.GaugeOpts{Name: "regcase_audit_checkpoint_interval_seconds",
		Help: "REGCASE_AUDIT_CHECKPOINT_INTERVAL: how often checkpoints are signed."})
	interval.Set(p.cfg.CheckpointEvery.Seconds())
	reg.MustRegister(ts.outcomes, ts.witness, ts.size, ts.lastSigned, ts.fresh, interval)
	if p.keys.signing != nil {
		s, _, err := regcase.NewNoteSigner(p.cfg.AuditLog.Origin, ed25519.PrivateKey(p.keys.signing))
		if err != nil { // the origin was validated with the configuration
			p.log.Error("audit tree checkpoints cannot be signed", slog.Any("error", err))
		}
		ts.signer = s
	}
	return ts
}

func (ts *treeSigner) once(ctx context.Context) {
	if ts.signer == nil {
		return
	}
	c, err := ts.svc.Sequence(ctx, ts.signer)
	switch {
	case regcase.ErrorCodeOf(err) == regcase.EForbidden:
		// The api role (regcase_app) may read the tree but not append to
		// it: a process connected as it leaves sequencing to the worker.
		ts.outcomes.WithLabelValues("forbidden").Inc()
		if !ts.warned {
			ts.warned = true
			ts.log.Warn("this process's database role may not append to the Merkle audit log (it needs regcase_worker): tree checkpoints are left to the worker",
				slog.Any("error", err))
		}
		return
	case err != nil:
		ts.outcomes.WithLabelValues("error").Inc()
		ts.log.Error("audit tree checkpoint failed", slog.Any("error", err))
		return
	case c == nil:
		ts.outcomes.WithLabelValues("nothing_new").Inc()
	default:
		ts.outcomes.WithLabelValues("signed").Inc()
		ts.log.Info("audit tree checkpoint signed", slog.Int64("tree_size", c.Size))
	}
	latest, err := ts.store.GetTreeCheckpoint(ctx, 0)
	if err == nil {
		ts.size.Set(float64(latest.Size))
		ts.lastSigned.Set(float64(latest.Time.Unix()))
		// A replica that lost the lock race may not have written the newest
		// checkpoint to the witness directory: every replica does (a copy
		// that exists already is left alone).
		ts.toWitness(latest)
	}
	if err == nil || regcase.ErrorCodeOf(err) == regcase.ENotFound {
		ts.fresh.Set(float64(time.Now().Unix()))
	}
}

func (ts *treeSigner) toWitness(c *regcase.TreeCheckpoint) {
	if ts.witnessDir == "" {
		return
	}
	if err := writeWitness(ts.witnessDir, c); err != nil {
		ts.witness.WithLabelValues("error").Inc()
		ts.log.Error("audit checkpoint not written to the witness directory", slog.Int64("tree_size", c.Size), slog.Any("error", err))
		return
	}
	ts.witness.WithLabelValues("written").Inc()
}
