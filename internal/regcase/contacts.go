package regcase

import (
	"context"
	"strings"
	"sync"
	"time"
)

// ContactInput sets where an officer gets notifications.
type ContactInput struct {
	// ActorID is whose contact it is: "" = the caller's own. Only an admin
	// may set another officer's ("token:<id>", a token name, or
	// "oidc:<subject>" with Role).
	ActorID string
	Email   string
	Notify  bool
	// Role is the role of an OIDC subject set by an admin (tokens carry
	// their own).
	Role Role
}

// SetContact creates or replaces an officer's notification address and
// opt-out; audited as officer.contact_set (with whether notifications are
// on, not the address). Staff set their own; an admin sets anyone's.
// Errors: EInvalid, EForbidden, ENotFound (no such token).
func (s *Service) SetContact(ctx context.Context, a Actor, in ContactInput) (*OfficerContact, error) {
	if a.Role == RoleAnonymous || a.Role == "" {
		return nil, Errorf(EUnauthorized, "sign in to set your notification address")
	}
	in.Email = strings.TrimSpace(in.Email)
	if err := checkText("email", in.Email, true, 300); err != nil {
		return nil, err
	}
	if !validEmail(in.Email) {
		return nil, FieldError("email", "email is not an e-mail address")
	}
	c := &OfficerContact{ActorID: a.ID, Role: a.Role, Email: in.Email, Notify: in.Notify}
	if in.ActorID != "" && in.ActorID != a.ID {
		if err := Authorize(a, ActTokenManage); err != nil {
			return nil, Errorf(EForbidden, "only an admin sets another officer's notification address")
		}
		who, role, err := s.resolveOfficer(ctx, in.ActorID, in.Role)
		if err != nil {
			return nil, err
		}
		c.ActorID, c.Role = who, role
	}
	err := s.cfg.Store.InTx(ctx, func(tx Tx) error {
		now := s.now()
		c.UpdatedAt = now
		if err := tx.PutContact(ctx, c); err != nil {
			return err
		}
		return s.record(ctx, tx, a, now, change{action: "officer.contact_set", entityType: "officer", entityID: c.ActorID,
			data: map[string]any{"notify": c.Notify, "role": c.Role}})
	})
	if err != nil {
		return nil, err
	}
	return c, nil
}

// AdoptContactEmail gives a signed-in officer a notification address from
// their identity provider (an address the provider verified), with
// notifications on, unless they already have one: an address set by hand,
// or an opt-out, is never replaced. It returns whether it set one; the
// change is audited like SetContact (officer.contact_set, source
// "sign-in"), never with the address itself.
func (s *Service) AdoptContactEmail(ctx context.Context, a Actor, email string) (bool, error) {
	if !strings.HasPrefix(a.ID, "oidc:") {
		return false, Errorf(EForbidden, "only an identity-provider sign-in brings a verified address")
	}
	email = strings.TrimSpace(email)
	if err := checkText("email", email, true, 300); err != nil {
		return false, err
	}
	if !validEmail(email) {
		return false, FieldError("email", "email is not an e-mail address")
	}
	set := false
	err := s.cfg.Store.InTx(ctx, func(tx Tx) error {
		set = false
		if _, err := s.cfg.Store.GetContact(ctx, a.ID); err == nil {
			return nil
		} else if ErrorCodeOf(err) != ENotFound {
			return err
		}
		now := s.now()
		c := &OfficerContact{ActorID: a.ID, Role: a.Role, Email: email, Notify: true, UpdatedAt: now}
		if err := tx.PutContact(ctx, c); err != nil {
			return err
		}
		set = true
		return s.record(ctx, tx, a, now, change{action: "officer.contact_set", entityType: "officer", entityID: a.ID,
			data: map[string]any{"notify": true, "role": a.Role, "source": "sign-in"}})
	})
	return set, err
}

// resolveOfficer maps a token name or id, or an OIDC subject with its
// role, to an actor id and role.
func (s *Service) resolveOfficer(ctx context.Context, who string, oidcRole Role) (string, Role, error) {
	if strings.HasPrefix(who, "oidc:") {
		r, err := ParseRole(string(oidcRole))
		if err != nil {
			return "", "", err
		}
		return who, r, nil
	}
	toks, err := s.cfg.Store.ListTokens(ctx)
	if err != nil {
		return "", "", err
	}
	for _, t := range toks {
		if t.RevokedAt == nil && (who == TokenActorID(t.ID) || who == t.Name || who == t.ID) {
			return TokenActorID(t.ID), t.Role, nil
		}
	}
	return "", "", Errorf(ENotFound, "no active token %q", who)
}

// GetContact returns the caller's own notification settings (ENotFound
// when none were set).
func (s *Service) GetContact(ctx context.Context, a Actor) (*OfficerContact, error) {
	if a.Role == RoleAnonymous || a.Role == "" {
		return nil, Errorf(EUnauthorized, "sign in to read your notification address")
	}
	return s.cfg.Store.GetContact(ctx, a.ID)
}

// ReporterUpdateAddress returns the address a reporter left for updates
// on report id, or "" when there is none: no contact details, no request
// for updates, or erased (the key is gone). For the notifier only: the
// address never leaves the process except as the mail's recipient.
func (s *Service) ReporterUpdateAddress(ctx context.Context, reportID string) (string, error) {
	r, err := s.cfg.Store.GetReport(ctx, reportID)
	if err != nil {
		if ErrorCodeOf(err) == ENotFound {
			return "", nil
		}
		return "", err
	}
	if !r.HasReporter || r.WrappedKey == nil || r.ErasedAt != nil {
		return "", nil
	}
	rep, err := s.cfg.Keyring.Decrypt(r.ID, r.ReporterCipher, r.WrappedKey)
	if err != nil {
		return "", err
	}
	if !rep.Updates || rep.Email == "" {
		return "", nil
	}
	return rep.Email, nil
}

// DashboardAgeBounds are the ageing buckets of the dashboard: under a
// week, a month, a quarter, half a year, and older.
var DashboardAgeBounds = []time.Duration{7 * 24 * time.Hour, 30 * 24 * time.Hour, 90 * 24 * time.Hour, 180 * 24 * time.Hour}

// DashboardWeeks is how many weeks of intake the dashboard shows.
const DashboardWeeks = 12

// DefaultDashboardMaxAge is how long a computed dashboard is served again.
const DefaultDashboardMaxAge = 30 * time.Second

// dashboardCache keeps the last dashboard of this process: the aggregates
// scan every case, so a page view reuses a snapshot up to
// Deps.DashboardMaxAge old (the page says when it was computed), and
// concurrent views wait for one computation instead of each scanning.
type dashboardCache struct {
	mu sync.Mutex
	at time.Time
	d  *Dashboard
	q  DashboardQuery
}

// Dashboard returns the supervisor dashboard's aggregates, computed by the
// database at most DashboardMaxAge ago (q.Now says when). Errors:
// EForbidden for roles other than supervisor.
func (s *Service) Dashboard(ctx context.Context, a Actor) (*Dashboard, DashboardQuery, error) {
	if err := Authorize(a, ActDashboardRead); err != nil {
		return nil, DashboardQuery{}, err
	}
	c := &s.dash
	c.mu.Lock()
	defer c.mu.Unlock()
	now := s.now()
	maxAge := s.cfg.DashboardMaxAge
	if maxAge == 0 {
		maxAge = DefaultDashboardMaxAge
	}
	if c.d != nil && maxAge > 0 && now.Sub(c.at) < maxAge && !now.Before(c.at) {
		return c.d, c.q, nil
	}
	q := DashboardQuery{Now: now, AgeBounds: DashboardAgeBounds, Weeks: DashboardWeeks}
	d, err := s.cfg.Store.Dashboard(ctx, q)
	if err != nil {
		return nil, q, err
	}
	c.at, c.d, c.q = now, d, q
	return d, q, nil
}
