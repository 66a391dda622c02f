// Package oidcauth verifies OIDC JWT bearer tokens (issuer, audience, a role
// claim) with a cached JWKS, and maps them to regcase actors.
package oidcauth

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"

	"github.com/regcase/regcase/internal/regcase"
)

// Verifier checks JWTs from one issuer. Discovery happens on first use and is
// retried on later requests if the issuer was unreachable; the JWKS is
// cached and refreshed when an unknown key id appears, at most once per
// RefreshEvery (keySet).
type Verifier struct {
	Issuer    string
	Audience  string
	RoleClaim string
	// RefreshEvery bounds JWKS fetches for unknown key ids (default
	// DefaultRefreshEvery).
	RefreshEvery time.Duration

	mu       sync.Mutex
	verifier *oidc.IDTokenVerifier
	lastTry  time.Time
}

func (v *Verifier) get(ctx context.Context) (*oidc.IDTokenVerifier, error) {
	v.mu.Lock()
	defer v.mu.Unlock()
	if v.verifier != nil {
		return v.verifier, nil
	}
	if time.Since(v.lastTry) < 5*time.Second {
		return nil, regcase.Errorf(regcase.EUnavailable, "identity provider unavailable")
	}
	v.lastTry = time.Now()
	// The provider's key set outlives this request: use a background context.
	p, err := oidc.NewProvider(context.WithoutCancel(ctx), v.Issuer)
	if err != nil {
		return nil, &regcase.Error{Code: regcase.EUnavailable, Message: "identity provider unavailable", Err: err}
	}
	var meta struct {
		JWKS string   `json:"jwks_uri"`
		Algs []string `json:"id_token_signing_alg_values_supported"`
	}
	if err := p.Claims(&meta); err != nil || meta.JWKS == "" {
		return nil, &regcase.Error{Code: regcase.EUnavailable, Message: "identity provider unavailable", Err: fmt.Errorf("discovery has no jwks_uri: %v", err)}
	}
	v.verifier = oidc.NewVerifier(v.Issuer, newKeySet(meta.JWKS, v.RefreshEvery),
		&oidc.Config{ClientID: v.Audience, SupportedSigningAlgs: meta.Algs})
	return v.verifier, nil
}

// Verify validates a raw JWT and returns the actor it names. Errors:
// EUnauthorized for a bad token, EForbidden for a missing or unknown role,
// EUnavailable when the issuer cannot be reached.
func (v *Verifier) Verify(ctx context.Context, raw string) (regcase.Actor, error) {
	a, _, err := v.verify(ctx, raw, "")
	return a, err
}

// verify checks raw and, when nonce is not empty, its nonce claim. It also
// returns the token's e-mail address when the provider says it verified it
// (email_verified true), else "".
func (v *Verifier) verify(ctx context.Context, raw, nonce string) (regcase.Actor, string, error) {
	ver, err := v.get(ctx)
	if err != nil {
		return regcase.Actor{}, "", err
	}
	tok, err := ver.Verify(ctx, raw)
	if err != nil {
		return regcase.Actor{}, "", &regcase.Error{Code: regcase.EUnauthorized, Message: "invalid token", Err: err}
	}
	if nonce != "" && tok.Nonce != nonce {
		return regcase.Actor{}, "", regcase.Errorf(regcase.EUnauthorized, "ID token nonce does not match this sign-in")
	}
	var claims map[string]any
	if err := tok.Claims(&claims); err != nil {
		return regcase.Actor{}, "", &regcase.Error{Code: regcase.EUnauthorized, Message: "invalid token claims", Err: err}
	}
	roleName, _ := claims[v.RoleClaim].(string)
	role, err := regcase.ParseRole(roleName)
	if err != nil {
		return regcase.Actor{}, "", regcase.Errorf(regcase.EForbidden, "token has no valid %s claim", v.RoleClaim)
	}
	name, _ := claims["preferred_username"].(string)
	if name == "" {
		name = tok.Subject
	}
	return regcase.Actor{ID: fmt.Sprintf("oidc:%s", tok.Subject), Name: name, Role: role}, verifiedEmail(claims), nil
}

// verifiedEmail is the email claim when email_verified is true (a boolean,
// or the string "true" some providers send), else "".
func verifiedEmail(claims map[string]any) string {
	email, _ := claims["email"].(string)
	switch v := claims["email_verified"].(type) {
	case bool:
		if v {
			return email
		}
	case string:
		if v == "true" {
			return email
		}
	}
	return ""
}
