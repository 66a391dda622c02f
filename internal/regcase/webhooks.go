package regcase

import (
	"context"
	"encoding/base64"
	"fmt"
	"io"
	"net/url"
	"regexp"
	"slices"
	"strings"
)

// WebhookSecretPrefix starts every webhook signing secret (Standard
// Webhooks' "whsec_" + base64 key).
const WebhookSecretPrefix = "whsec_"

// NewWebhook is what an admin gives to subscribe.
type NewWebhook struct {
	URL         string
	EventTypes  []string
	Description string
}

var eventTypeRE = regexp.MustCompile(`^[a-z][a-z0-9_.]{0,199}\*?$|^\*$`)

// Matches reports whether the subscription wants events of type t: no
// filter, an exact type, or a prefix ending in "*".
func (w *Webhook) Matches(t string) bool {
	if len(w.EventTypes) == 0 {
		return true
	}
	for _, p := range w.EventTypes {
		if p == t || (strings.HasSuffix(p, "*") && strings.HasPrefix(t, strings.TrimSuffix(p, "*"))) {
			return true
		}
	}
	return false
}

func (s *Service) checkWebhook(in *NewWebhook) error {
	if s.cfg.CheckWebhookURL != nil {
		if err := s.cfg.CheckWebhookURL(in.URL); err != nil {
			return err
		}
	} else if u, err := url.Parse(in.URL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return FieldError("url", "url must be an absolute http or https URL")
	}
	if len(in.EventTypes) > 50 {
		return FieldError("event_types", "at most 50 event types")
	}
	for _, t := range in.EventTypes {
		if !eventTypeRE.MatchString(t) {
			return FieldError("event_types", "event type %q is not a type like gov.regcase.case.transitioned or a prefix like gov.regcase.case.*", t)
		}
	}
	return checkText("description", in.Description, false, 500)
}

// redactURL keeps scheme, host and path: query strings often carry
// receiver tokens, which the audit log must not keep.
func redactURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return ""
	}
	return (&url.URL{Scheme: u.Scheme, Host: u.Host, Path: u.Path}).String()
}

// CreateWebhook subscribes a URL to events. The signing secret is returned
// once; the store keeps it sealed with the platform key.
func (s *Service) CreateWebhook(ctx context.Context, a Actor, in NewWebhook) (*Webhook, string, error) {
	if err := Authorize(a, ActWebhookManage); err != nil {
		return nil, "", err
	}
	if err := s.checkWebhook(&in); err != nil {
		return nil, "", err
	}
	raw := make([]byte, 32)
	if _, err := io.ReadFull(s.cfg.Random, raw); err != nil {
		return nil, "", Internal(err)
	}
	secret := WebhookSecretPrefix + base64.StdEncoding.EncodeToString(raw)
	id := s.cfg.NewID()
	sealed, err := s.cfg.Keyring.SealSecret("webhook:"+id, []byte(secret))
	if err != nil {
		return nil, "", Internal(err)
	}
	now := s.now()
	types := slices.Clone(in.EventTypes)
	if types == nil {
		types = []string{}
	}
	w := &Webhook{ID: id, URL: in.URL, EventTypes: types, Description: in.Description, SecretCipher: sealed,
		CreatedAt: now, CreatedBy: a.ID}
	err = s.cfg.Store.InTx(ctx, func(tx Tx) error {
		if err := tx.InsertWebhook(ctx, w); err != nil {
			return err
		}
		return s.record(ctx, tx, a, now, change{action: "webhook.created", entityType: "webhook", entityID: id,
			data: map[string]any{"url": redactURL(in.URL), "event_types": types}})
	})
	if err != nil {
		return nil, "", err
	}
	return w, secret, nil
}

// WebhookSecret opens the signing secret of w ("whsec_...").
func (s *Service) WebhookSecret(w *Webhook) (string, error) {
	b, err := s.cfg.Keyring.OpenSecret("webhook:"+w.ID, w.SecretCipher)
	if err != nil {
		return "", Internal(fmt.Errorf("webhook %s secret: %w", w.ID, err))
	}
	return string(b), nil
}

// ListWebhooks lists the active subscriptions (never their secrets).
func (s *Service) ListWebhooks(ctx context.Context, a Actor) ([]*Webhook, error) {
	if err := Authorize(a, ActWebhookManage); err != nil {
		return nil, err
	}
	return s.cfg.Store.ListWebhooks(ctx)
}

// GetWebhook returns a subscription, deleted or not.
func (s *Service) GetWebhook(ctx context.Context, a Actor, id string) (*Webhook, error) {
	if err := Authorize(a, ActWebhookManage); err != nil {
		return nil, err
	}
	return s.cfg.Store.GetWebhook(ctx, id)
}

// DeleteWebhook ends a subscription; its pending deliveries become dead.
// The delivery history stays. Errors: ENotFound (also when already deleted).
func (s *Service) DeleteWebhook(ctx context.Context, a Actor, id string) error {
	if err := Authorize(a, ActWebhookManage); err != nil {
		return err
	}
	return s.cfg.Store.InTx(ctx, func(tx Tx) error {
		now := s.now()
		if err := tx.DeleteWebhook(ctx, id, now); err != nil {
			return err
		}
		return s.record(ctx, tx, a, now, change{action: "webhook.deleted", entityType: "webhook", entityID: id,
			data: map[string]any{}})
	})
}

// ListDeliveries lists a subscription's deliveries, newest first.
func (s *Service) ListDeliveries(ctx context.Context, a Actor, f DeliveryFilter) ([]*Delivery, error) {
	if err := Authorize(a, ActWebhookManage); err != nil {
		return nil, err
	}
	if f.Status != "" && !slices.Contains([]DeliveryStatus{DeliveryPending, DeliveryDelivered, DeliveryDead}, f.Status) {
		return nil, FieldError("status", "status %q is not one of pending, delivered, dead", f.Status)
	}
	if _, err := s.cfg.Store.GetWebhook(ctx, f.WebhookID); err != nil {
		return nil, err
	}
	f.Limit = PageLimit(f.Limit)
	return s.cfg.Store.ListDeliveries(ctx, f)
}

// GetDelivery returns one delivery of a subscription with its attempts.
func (s *Service) GetDelivery(ctx context.Context, a Actor, webhookID, id string) (*Delivery, []*DeliveryAttempt, error) {
	if err := Authorize(a, ActWebhookManage); err != nil {
		return nil, nil, err
	}
	d, err := s.cfg.Store.GetDelivery(ctx, id)
	if err != nil {
		return nil, nil, err
	}
	if d.WebhookID != webhookID {
		return nil, nil, Errorf(ENotFound, "webhook %s has no delivery %s", webhookID, id)
	}
	attempts, err := s.cfg.Store.ListAttempts(ctx, id)
	return d, attempts, err
}

// Redeliver sends a delivery again (a dead one, or a delivered one on
// request), with a fresh retry budget. Errors: ENotFound, EConflict if it is
// still pending.
func (s *Service) Redeliver(ctx context.Context, a Actor, webhookID, id string) (*Delivery, error) {
	if err := Authorize(a, ActWebhookManage); err != nil {
		return nil, err
	}
	var out *Delivery
	err := s.cfg.Store.InTx(ctx, func(tx Tx) error {
		now := s.now()
		d, err := tx.RedeliverDelivery(ctx, id, now)
		if err != nil {
			return err
		}
		if d.WebhookID != webhookID {
			return Errorf(ENotFound, "webhook %s has no delivery %s", webhookID, id)
		}
		out = d
		return s.record(ctx, tx, a, now, change{action: "webhook.redelivery_requested", entityType: "webhook", entityID: webhookID,
			data: map[string]any{"delivery_id": id, "event_id": d.EventID}})
	})
	return out, err
}

// DeadLetter records that handler gave up on ev (system work: no audit
// record, no event — a failing pipeline must not feed itself). A second dead
// letter for the same unreplayed event is not an error.
func (s *Service) DeadLetter(ctx context.Context, handler string, ev *Event, reason string, deliveries int) error {
	d := &DeadEvent{Handler: handler, Event: *ev, Reason: truncate(reason, 1000), Deliveries: deliveries, DeadAt: s.now()}
	err := s.cfg.Store.InTx(ctx, func(tx Tx) error { return tx.InsertDeadEvent(ctx, d) })
	if ErrorCodeOf(err) == EConflict {
		return nil
	}
	return err
}

// ListDeadEvents lists dead letters, newest first.
func (s *Service) ListDeadEvents(ctx context.Context, a Actor, f DeadEventFilter) ([]*DeadEvent, error) {
	if err := Authorize(a, ActEventManage); err != nil {
		return nil, err
	}
	f.Limit = PageLimit(f.Limit)
	return s.cfg.Store.ListDeadEvents(ctx, f)
}

// GetDeadEvent returns one dead letter.
func (s *Service) GetDeadEvent(ctx context.Context, a Actor, id int64) (*DeadEvent, error) {
	if err := Authorize(a, ActEventManage); err != nil {
		return nil, err
	}
	return s.cfg.Store.GetDeadEvent(ctx, id)
}

// ReplayDeadEvent puts a dead letter's event back on the outbox: the relay
// publishes it again and handlers that had not handled it try once more.
// Errors: ENotFound, EConflict when already replayed.
func (s *Service) ReplayDeadEvent(ctx context.Context, a Actor, id int64) (*DeadEvent, error) {
	if err := Authorize(a, ActEventManage); err != nil {
		return nil, err
	}
	var out *DeadEvent
	err := s.cfg.Store.InTx(ctx, func(tx Tx) error {
		now := s.now()
		d, err := tx.ReplayDeadEvent(ctx, id, now)
		if err != nil {
			return err
		}
		out = d
		return s.record(ctx, tx, a, now, change{action: "event.replayed", entityType: "dead_event", entityID: fmt.Sprint(id),
			data: map[string]any{"event_id": d.Event.ID, "handler": d.Handler}})
	})
	return out, err
}

// truncate cuts s to at most n bytes without splitting a character.
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return strings.ToValidUTF8(s[:n], "")
}
