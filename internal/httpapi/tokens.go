package httpapi

import (
	"context"
	"time"

	"github.com/regcase/regcase/internal/regcase"
)

// TokenBody is an API token without its secret.
type TokenBody struct {
	ID        string     `json:"id"`
	Name      string     `json:"name"`
	Role      string     `json:"role"`
	CreatedAt time.Time  `json:"created_at"`
	RevokedAt *time.Time `json:"revoked_at,omitempty"`
}

type tokensOutput struct {
	Body struct {
		Items []TokenBody `json:"items"`
	}
}

type createTokenInput struct {
	Body struct {
		Name string `json:"name" minLength:"1" maxLength:"100"`
		Role string `json:"role" enum:"intake,investigator,supervisor,auditor,admin"`
	}
}

type createTokenOutput struct {
	Body struct {
		TokenBody
		Token string `json:"token" doc:"shown once; only its hash is stored"`
	}
}

type tokenIDInput struct {
	ID string `path:"id" maxLength:"64"`
}

// listTokens serves list-tokens.
func (s *server) listTokens(ctx context.Context, _ *struct{}) (*tokensOutput, error) {
	ts, err := s.svc.ListTokens(ctx, actorFrom(ctx))
	if err != nil {
		return nil, s.fail(ctx, err)
	}
	out := &tokensOutput{}
	out.Body.Items = make([]TokenBody, 0, len(ts))
	for _, t := range ts {
		out.Body.Items = append(out.Body.Items, TokenBody{ID: t.ID, Name: t.Name, Role: string(t.Role), CreatedAt: t.CreatedAt, RevokedAt: t.RevokedAt})
	}
	return out, nil
}

// createToken serves create-token.
func (s *server) createToken(ctx context.Context, in *createTokenInput) (*createTokenOutput, error) {
	t, secret, err := s.svc.CreateToken(ctx, actorFrom(ctx), in.Body.Name, regcase.Role(in.Body.Role))
	if err != nil {
		return nil, s.fail(ctx, err)
	}
	out := &createTokenOutput{}
	out.Body.TokenBody = TokenBody{ID: t.ID, Name: t.Name, Role: string(t.Role), CreatedAt: t.CreatedAt}
	out.Body.Token = secret
	return out, nil
}

// revokeToken serves revoke-token.
func (s *server) revokeToken(ctx context.Context, in *tokenIDInput) (*struct{}, error) {
	if err := s.svc.RevokeToken(ctx, actorFrom(ctx), in.ID); err != nil {
		return nil, s.fail(ctx, err)
	}
	return nil, nil
}
