package httpapi

import (
	"context"
	"encoding/json"
	"strconv"
	"time"

	"github.com/regcase/regcase/internal/regcase"
)

// WebhookBody is a subscription without its secret.
type WebhookBody struct {
	ID          string     `json:"id"`
	URL         string     `json:"url"`
	EventTypes  []string   `json:"event_types" doc:"exact types or prefixes ending in *; empty = every event"`
	Description string     `json:"description,omitempty"`
	CreatedAt   time.Time  `json:"created_at"`
	CreatedBy   string     `json:"created_by"`
	DeletedAt   *time.Time `json:"deleted_at,omitempty"`
}

func webhookBody(w *regcase.Webhook) WebhookBody {
	return WebhookBody{ID: w.ID, URL: w.URL, EventTypes: w.EventTypes, Description: w.Description, CreatedAt: w.CreatedAt,
		CreatedBy: w.CreatedBy, DeletedAt: w.DeletedAt}
}

// DeliveryBody is one delivery of an event to a subscription.
type DeliveryBody struct {
	ID            string          `json:"id"`
	WebhookID     string          `json:"webhook_id"`
	EventID       string          `json:"event_id" doc:"also the webhook-id header: receivers dedupe by it"`
	EventType     string          `json:"event_type"`
	Status        string          `json:"status" enum:"pending,delivered,dead"`
	Attempts      int             `json:"attempts" doc:"attempts since the last (re)delivery request"`
	NextAttemptAt *time.Time      `json:"next_attempt_at,omitempty"`
	LastAttemptAt *time.Time      `json:"last_attempt_at,omitempty"`
	LastStatus    int             `json:"last_status,omitempty" doc:"HTTP status of the last attempt"`
	LastError     string          `json:"last_error,omitempty"`
	DeliveredAt   *time.Time      `json:"delivered_at,omitempty"`
	CreatedAt     time.Time       `json:"created_at"`
	Payload       json.RawMessage `json:"payload,omitempty" doc:"the CloudEvents JSON sent (on single reads)"`
	History       []AttemptBody   `json:"history,omitempty" doc:"every attempt, oldest first (on single reads)"`
}

// AttemptBody is one HTTP attempt of a delivery.
type AttemptBody struct {
	At         time.Time `json:"at"`
	DurationMS float64   `json:"duration_ms"`
	StatusCode int       `json:"status_code,omitempty"`
	Error      string    `json:"error,omitempty"`
}

func deliveryBody(d *regcase.Delivery) *DeliveryBody {
	b := &DeliveryBody{ID: d.ID, WebhookID: d.WebhookID, EventID: d.EventID, EventType: d.EventType, Status: string(d.Status),
		Attempts: d.Attempts, LastAttemptAt: d.LastAttemptAt, LastStatus: d.LastStatus, LastError: d.LastError,
		DeliveredAt: d.DeliveredAt, CreatedAt: d.CreatedAt}
	if d.Status == regcase.DeliveryPending {
		t := d.NextAttemptAt
		b.NextAttemptAt = &t
	}
	return b
}

// DeadEventBody is an event a handler gave up on.
type DeadEventBody struct {
	ID         int64           `json:"id"`
	Handler    string          `json:"handler"`
	EventID    string          `json:"event_id"`
	EventType  string          `json:"event_type"`
	Event      json.RawMessage `json:"event" doc:"the CloudEvents JSON"`
	Reason     string          `json:"reason"`
	Deliveries int             `json:"deliveries"`
	DeadAt     time.Time       `json:"dead_at"`
	ReplayedAt *time.Time      `json:"replayed_at,omitempty"`
}

func deadEventBody(d *regcase.DeadEvent) *DeadEventBody {
	ce, _ := d.Event.CloudEvent()
	return &DeadEventBody{ID: d.ID, Handler: d.Handler, EventID: d.Event.ID, EventType: d.Event.Type, Event: ce,
		Reason: d.Reason, Deliveries: d.Deliveries, DeadAt: d.DeadAt, ReplayedAt: d.ReplayedAt}
}

type webhooksOutput struct {
	Body struct {
		Items []WebhookBody `json:"items"`
	}
}

type createWebhookInput struct {
	Body struct {
		URL         string   `json:"url" minLength:"1" maxLength:"2048" doc:"https URL of the receiver (private and loopback addresses are refused unless allowed by REGCASE_WEBHOOK_ALLOW_NETS)"`
		EventTypes  []string `json:"event_types,omitempty" maxItems:"50" doc:"e.g. gov.regcase.case.* ; empty = every event"`
		Description string   `json:"description,omitempty" maxLength:"500"`
	}
}

type createWebhookOutput struct {
	Body struct {
		WebhookBody
		Secret string `json:"secret" doc:"Standard Webhooks signing secret (whsec_…), shown once"`
	}
}

type webhookOutput struct {
	Body WebhookBody
}

type webhookIDInput struct {
	ID string `path:"id" maxLength:"64"`
}

type listDeliveriesInput struct {
	ID     string `path:"id" maxLength:"64"`
	Status string `query:"status" enum:"pending,delivered,dead"`
	Cursor string `query:"cursor" maxLength:"64"`
	Limit  int    `query:"limit" minimum:"1" maximum:"200" default:"50"`
}

type deliveriesOutput struct {
	Body struct {
		Items      []*DeliveryBody `json:"items"`
		NextCursor string          `json:"next_cursor,omitempty"`
	}
}

type deliveryIDInput struct {
	ID       string `path:"id" maxLength:"64"`
	Delivery string `path:"delivery" maxLength:"64"`
}

type deliveryOutput struct {
	Body *DeliveryBody
}

type listDeadInput struct {
	Handler  string `query:"handler" maxLength:"100"`
	Replayed string `query:"replayed" enum:"true,false" doc:"filter on whether the event was replayed"`
	Cursor   string `query:"cursor" maxLength:"20" pattern:"^[0-9]*$"`
	Limit    int    `query:"limit" minimum:"1" maximum:"200" default:"50"`
}

type deadOutput struct {
	Body struct {
		Items      []*DeadEventBody `json:"items"`
		NextCursor string           `json:"next_cursor,omitempty"`
	}
}

type deadIDInput struct {
	ID int64 `path:"id" minimum:"1"`
}

type deadEventOutput struct {
	Body *DeadEventBody
}

// listWebhooks serves list-webhooks.
func (s *server) listWebhooks(ctx context.Context, _ *struct{}) (*webhooksOutput, error) {
	ws, err := s.svc.ListWebhooks(ctx, actorFrom(ctx))
	if err != nil {
		return nil, s.fail(ctx, err)
	}
	out := &webhooksOutput{}
	out.Body.Items = make([]WebhookBody, 0, len(ws))
	for _, w := range ws {
		out.Body.Items = append(out.Body.Items, webhookBody(w))
	}
	return out, nil
}

// createWebhook serves create-webhook.
func (s *server) createWebhook(ctx context.Context, in *createWebhookInput) (*createWebhookOutput, error) {
	w, secret, err := s.svc.CreateWebhook(ctx, actorFrom(ctx), regcase.NewWebhook{URL: in.Body.URL,
		EventTypes: in.Body.EventTypes, Description: in.Body.Description})
	if err != nil {
		return nil, s.fail(ctx, err)
	}
	out := &createWebhookOutput{}
	out.Body.WebhookBody = webhookBody(w)
	out.Body.Secret = secret
	return out, nil
}

// getWebhook serves get-webhook.
func (s *server) getWebhook(ctx context.Context, in *webhookIDInput) (*webhookOutput, error) {
	w, err := s.svc.GetWebhook(ctx, actorFrom(ctx), in.ID)
	if err != nil {
		return nil, s.fail(ctx, err)
	}
	return &webhookOutput{Body: webhookBody(w)}, nil
}

// deleteWebhook serves delete-webhook.
func (s *server) deleteWebhook(ctx context.Context, in *webhookIDInput) (*struct{}, error) {
	if err := s.svc.DeleteWebhook(ctx, actorFrom(ctx), in.ID); err != nil {
		return nil, s.fail(ctx, err)
	}
	return nil, nil
}

// listDeliveries serves list-deliveries.
func (s *server) listDeliveries(ctx context.Context, in *listDeliveriesInput) (*deliveriesOutput, error) {
	ds, err := s.svc.ListDeliveries(ctx, actorFrom(ctx), regcase.DeliveryFilter{WebhookID: in.ID,
		Status: regcase.DeliveryStatus(in.Status), Cursor: in.Cursor, Limit: in.Limit})
	if err != nil {
		return nil, s.fail(ctx, err)
	}
	out := &deliveriesOutput{}
	out.Body.Items = make([]*DeliveryBody, 0, len(ds))
	for _, d := range ds {
		out.Body.Items = append(out.Body.Items, deliveryBody(d))
	}
	if len(ds) == regcase.PageLimit(in.Limit) {
		out.Body.NextCursor = ds[len(ds)-1].ID
	}
	return out, nil
}

// getDelivery serves get-delivery.
func (s *server) getDelivery(ctx context.Context, in *deliveryIDInput) (*deliveryOutput, error) {
	d, attempts, err := s.svc.GetDelivery(ctx, actorFrom(ctx), in.ID, in.Delivery)
	if err != nil {
		return nil, s.fail(ctx, err)
	}
	b := deliveryBody(d)
	b.Payload = d.Payload
	b.History = make([]AttemptBody, 0, len(attempts))
	for _, a := range attempts {
		b.History = append(b.History, AttemptBody{At: a.At, DurationMS: float64(a.Duration.Microseconds()) / 1000,
			StatusCode: a.StatusCode, Error: a.Error})
	}
	return &deliveryOutput{Body: b}, nil
}

// redeliver serves redeliver.
func (s *server) redeliver(ctx context.Context, in *deliveryIDInput) (*deliveryOutput, error) {
	d, err := s.svc.Redeliver(ctx, actorFrom(ctx), in.ID, in.Delivery)
	if err != nil {
		return nil, s.fail(ctx, err)
	}
	return &deliveryOutput{Body: deliveryBody(d)}, nil
}

// listDeadLetters serves list-dead-letters.
func (s *server) listDeadLetters(ctx context.Context, in *listDeadInput) (*deadOutput, error) {
	f := regcase.DeadEventFilter{Handler: in.Handler, Limit: in.Limit}
	if in.Cursor != "" {
		f.Cursor, _ = strconv.ParseInt(in.Cursor, 10, 64)
	}
	if in.Replayed != "" {
		b := in.Replayed == "true"
		f.Replayed = &b
	}
	ds, err := s.svc.ListDeadEvents(ctx, actorFrom(ctx), f)
	if err != nil {
		return nil, s.fail(ctx, err)
	}
	out := &deadOutput{}
	out.Body.Items = make([]*DeadEventBody, 0, len(ds))
	for _, d := range ds {
		out.Body.Items = append(out.Body.Items, deadEventBody(d))
	}
	if len(ds) == regcase.PageLimit(in.Limit) {
		out.Body.NextCursor = strconv.FormatInt(ds[len(ds)-1].ID, 10)
	}
	return out, nil
}

// getDeadLetter serves get-dead-letter.
func (s *server) getDeadLetter(ctx context.Context, in *deadIDInput) (*deadEventOutput, error) {
	d, err := s.svc.GetDeadEvent(ctx, actorFrom(ctx), in.ID)
	if err != nil {
		return nil, s.fail(ctx, err)
	}
	return &deadEventOutput{Body: deadEventBody(d)}, nil
}

// replayDeadLetter serves replay-dead-letter.
func (s *server) replayDeadLetter(ctx context.Context, in *deadIDInput) (*deadEventOutput, error) {
	d, err := s.svc.ReplayDeadEvent(ctx, actorFrom(ctx), in.ID)
	if err != nil {
		return nil, s.fail(ctx, err)
	}
	return &deadEventOutput{Body: deadEventBody(d)}, nil
}
