package oidcauth

import (
	"context"
	"sync"

	"github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"

	"github.com/regcase/regcase/internal/regcase"
)

// Login is the web console's OIDC sign-in: the authorization code flow with
// state, nonce and PKCE (S256). The ID token is checked like a bearer token
// (issuer, audience = client id, signature via the cached JWKS) plus its
// nonce, and the role claim maps to a regcase role.
type Login struct {
	Issuer       string
	ClientID     string
	ClientSecret string
	RedirectURL  string // <public URL>/console/oidc/callback
	RoleClaim    string

	mu       sync.Mutex
	cfg      *oauth2.Config
	verifier *Verifier
}

func (l *Login) config(ctx context.Context) (*oauth2.Config, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.cfg != nil {
		return l.cfg, nil
	}
	p, err := oidc.NewProvider(context.WithoutCancel(ctx), l.Issuer)
	if err != nil {
		return nil, &regcase.Error{Code: regcase.EUnavailable, Message: "identity provider unavailable", Err: err}
	}
	l.cfg = &oauth2.Config{ClientID: l.ClientID, ClientSecret: l.ClientSecret, RedirectURL: l.RedirectURL,
		Endpoint: p.Endpoint(), Scopes: []string{oidc.ScopeOpenID, "profile", "email"}}
	l.verifier = &Verifier{Issuer: l.Issuer, Audience: l.ClientID, RoleClaim: l.RoleClaim}
	return l.cfg, nil
}

// AuthURL is where to send the browser; "" when the provider cannot be
// reached (the console then shows its sign-in page again).
func (l *Login) AuthURL(state, nonce, challenge string) string {
	cfg, err := l.config(context.Background())
	if err != nil {
		return "/console/login?ended=oidc"
	}
	return cfg.AuthCodeURL(state, oidc.Nonce(nonce),
		oauth2.SetAuthURLParam("code_challenge", challenge), oauth2.SetAuthURLParam("code_challenge_method", "S256"))
}

// Exchange trades the code for tokens and returns the signed-in actor and
// the e-mail address the provider verified for them ("" when none).
// Errors: EUnauthorized (bad code, token or nonce), EForbidden (no valid
// role), EUnavailable (provider down).
func (l *Login) Exchange(ctx context.Context, code, pkceVerifier, nonce string) (regcase.Actor, string, error) {
	cfg, err := l.config(ctx)
	if err != nil {
		return regcase.Actor{}, "", err
	}
	tok, err := cfg.Exchange(ctx, code, oauth2.VerifierOption(pkceVerifier))
	if err != nil {
		return regcase.Actor{}, "", &regcase.Error{Code: regcase.EUnauthorized, Message: "code exchange failed", Err: err}
	}
	raw, _ := tok.Extra("id_token").(string)
	if raw == "" {
		return regcase.Actor{}, "", regcase.Errorf(regcase.EUnauthorized, "the provider returned no ID token")
	}
	return l.verifier.verify(ctx, raw, nonce)
}
