package httpapi

import (
	"context"
	"encoding/json"
	"net/http"
	"strconv"
	"time"

	"github.com/danielgtaylor/huma/v2"

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

func (s *server) registerWebhooks() {
	huma.Register(s.api, s.op("list-webhooks", http.MethodGet, "/v1/webhooks", "List webhook subscriptions (admins)", "webhooks"),
		func(ctx context.Context, _ *struct{}) (*webhooksOutput, error) {
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
		})
	op := s.op("create-webhook", http.MethodPost, "/v1/webhooks", "Subscribe a URL to events (admins)", "webhooks")
	op.DefaultStatus = http.StatusCreated
	huma.Register(s.api, op, func(ctx context.Context, in *createWebhookInput) (*createWebhookOutput, error) {
		w, secret, err := s.svc.CreateWebhook(ctx, actorFrom(ctx), regcase.NewWebhook{URL: in.Body.URL,
			EventTypes: in.Body.EventTypes, Description: in.Body.Description})
		if err != nil {
			return nil, s.fail(ctx, err)
		}
		out := &createWebhookOutput{}
		out.Body.WebhookBody = webhookBody(w)
		out.Body.Secret = secret
		return out, nil
	})
	huma.Register(s.api, s.op("get-webhook", http.MethodGet, "/v1/webhooks/{id}", "Get a webhook subscription (admins)", "webhooks"),
		func(ctx context.Context, in *webhookIDInput) (*webhookOutput, error) {
			w, err := s.svc.GetWebhook(ctx, actorFrom(ctx), in.ID)
			if err != nil {
				return nil, s.fail(ctx, err)
			}
			return &webhookOutput{Body: webhookBody(w)}, nil
		})
	op = s.op("delete-webhook", http.MethodDelete, "/v1/webhooks/{id}", "End a subscription; its pending deliveries die, history stays (admins)", "webhooks")
	op.DefaultStatus = http.StatusNoContent
	huma.Register(s.api, op, func(ctx context.Context, in *webhookIDInput) (*struct{}, error) {
		if err := s.svc.DeleteWebhook(ctx, actorFrom(ctx), in.ID); err != nil {
			return nil, s.fail(ctx, err)
		}
		return nil, nil
	})
	huma.Register(s.api, s.op("list-deliveries", http.MethodGet, "/v1/webhooks/{id}/deliveries", "Delivery history of a subscription, newest first (admins)", "webhooks"),
		func(ctx context.Context, in *listDeliveriesInput) (*deliveriesOutput, error) {
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
		})
	huma.Register(s.api, s.op("get-delivery", http.MethodGet, "/v1/webhooks/{id}/deliveries/{delivery}", "One delivery with its payload and every attempt (admins)", "webhooks"),
		func(ctx context.Context, in *deliveryIDInput) (*deliveryOutput, error) {
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
		})
	op = s.op("redeliver", http.MethodPost, "/v1/webhooks/{id}/deliveries/{delivery}/redeliver",
		"Send a delivery again with a fresh retry budget (admins); 409 while it is pending", "webhooks")
	op.DefaultStatus = http.StatusAccepted
	op.Errors = append(op.Errors, http.StatusConflict)
	huma.Register(s.api, op, func(ctx context.Context, in *deliveryIDInput) (*deliveryOutput, error) {
		d, err := s.svc.Redeliver(ctx, actorFrom(ctx), in.ID, in.Delivery)
		if err != nil {
			return nil, s.fail(ctx, err)
		}
		return &deliveryOutput{Body: deliveryBody(d)}, nil
	})

	huma.Register(s.api, s.op("list-dead-letters", http.MethodGet, "/v1/dead-letters", "Events a handler gave up on, newest first (admins)", "events"),
		func(ctx context.Context, in *listDeadInput) (*deadOutput, error) {
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
		})
	huma.Register(s.api, s.op("get-dead-letter", http.MethodGet, "/v1/dead-letters/{id}", "One dead-lettered event (admins)", "events"),
		func(ctx context.Context, in *deadIDInput) (*deadEventOutput, error) {
			d, err := s.svc.GetDeadEvent(ctx, actorFrom(ctx), in.ID)
			if err != nil {
				return nil, s.fail(ctx, err)
			}
			return &deadEventOutput{Body: deadEventBody(d)}, nil
		})
	op = s.op("replay-dead-letter", http.MethodPost, "/v1/dead-letters/{id}/replay",
		"Put the event back on the outbox; handlers that failed it try again (admins); 409 if replayed", "events")
	op.DefaultStatus = http.StatusAccepted
	op.Errors = append(op.Errors, http.StatusConflict)
	huma.Register(s.api, op, func(ctx context.Context, in *deadIDInput) (*deadEventOutput, error) {
		d, err := s.svc.ReplayDeadEvent(ctx, actorFrom(ctx), in.ID)
		if err != nil {
			return nil, s.fail(ctx, err)
		}
		return &deadEventOutput{Body: deadEventBody(d)}, nil
	})
}
