package oidcauth

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"

	"github.com/regcase/regcase/internal/regcase"
)

// provider is a minimal OIDC issuer on loopback: discovery + JWKS.
type provider struct {
	srv      *httptest.Server
	key      *rsa.PrivateKey
	jwksHits atomic.Int64
	signer   jose.Signer
	issuer   string
}

func newProvider(t *testing.T) *provider {
	t.Helper()
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	p := &provider{key: key}
	mux := http.NewServeMux()
	mux.HandleFunc("/.well-known/openid-configuration", func(w http.ResponseWriter, r *http.Request) {
		_ = json.NewEncoder(w).Encode(map[string]any{"issuer": p.issuer, "jwks_uri": p.issuer + "/jwks",
			"authorization_endpoint": p.issuer + "/auth", "token_endpoint": p.issuer + "/token",
			"id_token_signing_alg_values_supported": []string{"RS256"}})
	})
	mux.HandleFunc("/jwks", func(w http.ResponseWriter, r *http.Request) {
		p.jwksHits.Add(1)
		_ = json.NewEncoder(w).Encode(jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{Key: &key.PublicKey, KeyID: "k1", Algorithm: "RS256", Use: "sig"}}})
	})
	p.srv = httptest.NewServer(mux)
	t.Cleanup(p.srv.Close)
	p.issuer = p.srv.URL
	p.signer, err = jose.NewSigner(jose.SigningKey{Algorithm: jose.RS256, Key: key}, (&jose.SignerOptions{}).WithType("JWT").WithHeader("kid", "k1"))
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func (p *provider) token(t *testing.T, claims map[string]any) string {
	t.Helper()
	std := jwt.Claims{Issuer: p.issuer, Subject: "u-42", Audience: jwt.Audience{"regcase"},
		IssuedAt: jwt.NewNumericDate(time.Now()), Expiry: jwt.NewNumericDate(time.Now().Add(time.Hour))}
	raw, err := jwt.Signed(p.signer).Claims(std).Claims(claims).Serialize()
	if err != nil {
		t.Fatal(err)
	}
	return raw
}

func TestVerify(t *testing.T) {
	p := newProvider(t)
	v := &Verifier{Issuer: p.issuer, Audience: "regcase", RoleClaim: "regcase_role"}
	ctx := context.Background()

	t.Run("OK", func(t *testing.T) {
		a, err := v.Verify(ctx, p.token(t, map[string]any{"regcase_role": "investigator", "preferred_username": "ivy"}))
		if err != nil {
			t.Fatal(err)
		}
		if got, want := a, (regcase.Actor{ID: "oidc:u-42", Name: "ivy", Role: regcase.RoleInvestigator}); got != want {
			t.Errorf("actor = %+v, want %+v", got, want)
		}
	})
	t.Run("OKJWKSCached", func(t *testing.T) {
		before := p.jwksHits.Load()
		for range 5 {
			if _, err := v.Verify(ctx, p.token(t, map[string]any{"regcase_role": "auditor"})); err != nil {
				t.Fatal(err)
			}
		}
		if got := p.jwksHits.Load() - before; got != 0 {
			t.Errorf("JWKS fetched %d more times for 5 tokens with a known key, want 0", got)
		}
	})
	t.Run("ErrWrongAudience", func(t *testing.T) {
		other := &Verifier{Issuer: p.issuer, Audience: "someone-else", RoleClaim: "regcase_role"}
		_, err := other.Verify(ctx, p.token(t, map[string]any{"regcase_role": "auditor"}))
		if got, want := regcase.ErrorCodeOf(err), regcase.EUnauthorized; got != want {
			t.Errorf("code = %q, want %q", got, want)
		}
	})
	t.Run("ErrForgedSignature", func(t *testing.T) {
		forger := newProvider(t)
		forger.issuer = p.issuer // same claims, another key
		_, err := v.Verify(ctx, forger.token(t, map[string]any{"regcase_role": "admin"}))
		if got, want := regcase.ErrorCodeOf(err), regcase.EUnauthorized; got != want {
			t.Errorf("code = %q, want %q", got, want)
		}
	})
	t.Run("ErrNoRole", func(t *testing.T) {
		for _, claims := range []map[string]any{{}, {"regcase_role": "root"}, {"regcase_role": "anonymous"}, {"regcase_role": 7}} {
			_, err := v.Verify(ctx, p.token(t, claims))
			if got, want := regcase.ErrorCodeOf(err), regcase.EForbidden; got != want {
				t.Errorf("claims %v: code = %q, want %q", claims, got, want)
			}
		}
	})
	t.Run("ErrGarbage", func(t *testing.T) {
		_, err := v.Verify(ctx, "not.a.jwt")
		if got, want := regcase.ErrorCodeOf(err), regcase.EUnauthorized; got != want {
			t.Errorf("code = %q, want %q", got, want)
		}
	})
	t.Run("ErrIssuerDown", func(t *testing.T) {
		down := &Verifier{Issuer: "http://127.0.0.1:1", Audience: "regcase", RoleClaim: "regcase_role"}
		_, err := down.Verify(ctx, p.token(t, map[string]any{"regcase_role": "auditor"}))
		if got, want := regcase.ErrorCodeOf(err), regcase.EUnavailable; got != want {
			t.Errorf("code = %q, want %q", got, want)
		}
	})
}

// TestUnknownKeyIDFlood: tokens naming key ids the provider never had cost
// at most one JWKS fetch per refresh interval, however many and however
// concurrent; a key the provider rotates in is picked up at the next
// allowed refresh.
func TestUnknownKeyIDFlood(t *testing.T) {
	p := newProvider(t)
	v := &Verifier{Issuer: p.issuer, Audience: "regcase", RoleClaim: "regcase_role", RefreshEvery: time.Hour}
	ctx := context.Background()
	if _, err := v.Verify(ctx, p.token(t, map[string]any{"regcase_role": "auditor"})); err != nil {
		t.Fatal(err)
	}
	before := p.jwksHits.Load()
	var wg sync.WaitGroup
	var refused atomic.Int64
	for i := range 200 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			signer, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.RS256, Key: p.key},
				(&jose.SignerOptions{}).WithType("JWT").WithHeader("kid", fmt.Sprintf("made-up-%d", i)))
			if err != nil {
				t.Error(err)
				return
			}
			raw, err := jwt.Signed(signer).Claims(jwt.Claims{Issuer: p.issuer, Subject: "x", Audience: jwt.Audience{"regcase"},
				Expiry: jwt.NewNumericDate(time.Now().Add(time.Hour))}).Serialize()
			if err != nil {
				t.Error(err)
				return
			}
			if _, err := v.Verify(ctx, raw); regcase.ErrorCodeOf(err) == regcase.EUnauthorized {
				refused.Add(1)
			}
		}()
	}
	wg.Wait()
	if got := refused.Load(); got != 200 {
		t.Errorf("%d of 200 tokens with unknown key ids refused, want all", got)
	}
	if got := p.jwksHits.Load() - before; got > 1 {
		t.Errorf("200 unknown key ids caused %d JWKS fetches, want at most 1 per interval", got)
	}
	// Known keys keep working during the flood, without fetches.
	if _, err := v.Verify(ctx, p.token(t, map[string]any{"regcase_role": "auditor"})); err != nil {
		t.Errorf("a valid token after the flood: %v", err)
	}
}
