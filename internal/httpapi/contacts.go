package httpapi

import (
	"context"
	"time"

	"github.com/regcase/regcase/internal/regcase"
)

// ContactBody is where an officer gets e-mail notifications.
type ContactBody struct {
	ActorID   string    `json:"actor_id"`
	Role      string    `json:"role"`
	Email     string    `json:"email"`
	Notify    bool      `json:"notify" doc:"false: opted out of every notification"`
	UpdatedAt time.Time `json:"updated_at"`
}

type contactOutput struct {
	Body ContactBody
}

type contactInput struct {
	Body struct {
		Email  string `json:"email" maxLength:"300" doc:"where notifications go"`
		Notify *bool  `json:"notify,omitempty" doc:"default true; false opts out"`
	}
}

type tokenContactInput struct {
	ID string `path:"id" maxLength:"64"`
	contactInput
}

func contactOut(c *regcase.OfficerContact) *contactOutput {
	return &contactOutput{Body: ContactBody{ActorID: c.ActorID, Role: string(c.Role), Email: c.Email, Notify: c.Notify, UpdatedAt: c.UpdatedAt}}
}

// getMyNotifications serves get-my-notifications.
func (s *server) getMyNotifications(ctx context.Context, _ *struct{}) (*contactOutput, error) {
	c, err := s.svc.GetContact(ctx, actorFrom(ctx))
	if err != nil {
		return nil, s.fail(ctx, err)
	}
	return contactOut(c), nil
}

// setMyNotifications serves set-my-notifications.
func (s *server) setMyNotifications(ctx context.Context, in *contactInput) (*contactOutput, error) {
	return s.setContact(ctx, "", in)
}

// setTokenNotifications serves set-token-notifications.
func (s *server) setTokenNotifications(ctx context.Context, in *tokenContactInput) (*contactOutput, error) {
	return s.setContact(ctx, regcase.TokenActorID(in.ID), &in.contactInput)
}

func (s *server) setContact(ctx context.Context, actorID string, in *contactInput) (*contactOutput, error) {
	notify := in.Body.Notify == nil || *in.Body.Notify
	c, err := s.svc.SetContact(ctx, actorFrom(ctx), regcase.ContactInput{ActorID: actorID, Email: in.Body.Email, Notify: notify})
	if err != nil {
		return nil, s.fail(ctx, err)
	}
	return contactOut(c), nil
}
