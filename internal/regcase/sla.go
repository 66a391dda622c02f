package regcase

import (
	"context"
	"fmt"
	"slices"
	"time"
)

// SLAPolicy gives the time allowed per priority.
type SLAPolicy map[Priority]time.Duration

// DefaultSLAPolicy is critical 2 days, high 7, normal 30, low 90.
func DefaultSLAPolicy() SLAPolicy {
	day := 24 * time.Hour
	return SLAPolicy{PriorityCritical: 2 * day, PriorityHigh: 7 * day, PriorityNormal: 30 * day, PriorityLow: 90 * day}
}

// BreachPolicy is what the SLA scan does to a breached case.
type BreachPolicy string

// The breach policies.
const (
	// BreachEscalate marks the breach and raises the priority one step
	// (critical stays critical); the due date is kept.
	BreachEscalate BreachPolicy = "escalate"
	// BreachNotify only marks the breach: the event notifies subscribers.
	BreachNotify BreachPolicy = "notify"
)

// ParseBreachPolicy validates a policy name.
func ParseBreachPolicy(s string) (BreachPolicy, error) {
	switch p := BreachPolicy(s); p {
	case BreachEscalate, BreachNotify:
		return p, nil
	}
	return "", fmt.Errorf("unknown SLA breach policy %q (want escalate or notify)", s)
}

// MarkBreached records the SLA breach of a case if it is breached now and
// not yet marked: open, clock running, past due. It locks the case, so
// however many workers scan at once, a breach is marked (and its audit
// record and event written) exactly once. It returns the case and its
// priority at the breach when this call marked it, nil when there was
// nothing to do.
func (s *Service) MarkBreached(ctx context.Context, id string) (*Case, Priority, error) {
	a := SystemActor("sla")
	var out *Case
	var at Priority
	err := s.cfg.Store.InTx(ctx, func(tx Tx) error {
		out = nil
		c, err := tx.LockCase(ctx, id)
		if err != nil {
			return err
		}
		now := s.now()
		if c.ClosedAt != nil || s.cfg.Lifecycle.IsFinal(c.Status) || c.SLA.PausedAt != nil || c.SLA.BreachedAt != nil || !now.After(c.SLA.DueAt) {
			return nil
		}
		c.SLA.BreachedAt = &now
		at = c.Priority
		data := map[string]any{"due_at": c.SLA.DueAt, "overdue_seconds": int64(now.Sub(c.SLA.DueAt).Seconds()),
			"priority": c.Priority, "policy": s.cfg.Breach}
		if s.cfg.Breach == BreachEscalate {
			if i := slices.Index(Priorities, c.Priority); i >= 0 && i < len(Priorities)-1 {
				data["escalated_from"] = c.Priority
				c.Priority = Priorities[i+1]
				data["priority"] = c.Priority
			}
		}
		c.UpdatedAt = now
		prev := c.Version
		if err := tx.UpdateCase(ctx, c, prev); err != nil {
			return err
		}
		c.Version = prev + 1 // UpdateCase sets it too; never count twice
		data["version"] = c.Version
		out = c
		return s.record(ctx, tx, a, now, change{action: "case.sla_breached", entityType: "case", entityID: c.ID, data: data, state: caseState(c)})
	})
	if err != nil || out == nil {
		return nil, "", err
	}
	return out, at, nil
}

// clearBreach forgets a breach when the due date moved back into the
// future (priority lowered, clock resumed): a new breach is a new event.
func clearBreach(c *Case, now time.Time) {
	if c.SLA.BreachedAt != nil && c.SLA.DueAt.After(now) {
		c.SLA.BreachedAt = nil
	}
}
