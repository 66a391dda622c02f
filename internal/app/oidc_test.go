package app_test

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
)

// fakeIdP is an OIDC provider on loopback for the authorization code flow
// with PKCE: it signs every user in as the configured role.
type fakeIdP struct {
	srv    *httptest.Server
	signer jose.Signer
	role   string
	nonce  string // when set, the ID token carries this nonce instead

	mu    sync.Mutex
	codes map[string][2]string // code -> nonce, PKCE challenge
}

func newFakeIdP(t *testing.T, clientID, role string) *fakeIdP {
	t.Helper()
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	p := &fakeIdP{role: role, codes: map[string][2]string{}}
	p.signer, err = jose.NewSigner(jose.SigningKey{Algorithm: jose.RS256, Key: key}, (&jose.SignerOptions{}).WithType("JWT").WithHeader("kid", "k"))
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/.well-known/openid-configuration", func(w http.ResponseWriter, r *http.Request) {
		u := p.srv.URL
		_ = json.NewEncoder(w).Encode(map[string]any{"issuer": u, "authorization_endpoint": u + "/authorize",
			"token_endpoint": u + "/token", "jwks_uri": u + "/jwks", "id_token_signing_alg_values_supported": []string{"RS256"}})
	})
	mux.HandleFunc("/jwks", func(w http.ResponseWriter, r *http.Request) {
		_ = json.NewEncoder(w).Encode(jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{Key: &key.PublicKey, KeyID: "k", Algorithm: "RS256", Use: "sig"}}})
	})
	mux.HandleFunc("/authorize", func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query()
		if q.Get("client_id") != clientID || q.Get("code_challenge_method") != "S256" || q.Get("nonce") == "" {
			http.Error(w, "bad authorization request", http.StatusBadRequest)
			return
		}
		code := base64.RawURLEncoding.EncodeToString([]byte(time.Now().String()))
		p.mu.Lock()
		p.codes[code] = [2]string{q.Get("nonce"), q.Get("code_challenge")}
		p.mu.Unlock()
		http.Redirect(w, r, q.Get("redirect_uri")+"?"+url.Values{"code": {code}, "state": {q.Get("state")}}.Encode(), http.StatusFound)
	})
	mux.HandleFunc("/token", func(w http.ResponseWriter, r *http.Request) {
		_ = r.ParseForm()
		p.mu.Lock()
		c, ok := p.codes[r.PostForm.Get("code")]
		delete(p.codes, r.PostForm.Get("code"))
		p.mu.Unlock()
		sum := sha256.Sum256([]byte(r.PostForm.Get("code_verifier")))
		if !ok || base64.RawURLEncoding.EncodeToString(sum[:]) != c[1] {
			http.Error(w, `{"error":"invalid_grant"}`, http.StatusBadRequest)
			return
		}
		p.mu.Lock()
		nonce, role := c[0], p.role
		if p.nonce != "" {
			nonce = p.nonce
		}
		p.mu.Unlock()
		raw, err := jwt.Signed(p.signer).Claims(jwt.Claims{Issuer: p.srv.URL, Subject: "u-7", Audience: jwt.Audience{clientID},
			IssuedAt: jwt.NewNumericDate(time.Now()), Expiry: jwt.NewNumericDate(time.Now().Add(time.Hour))}).
			Claims(map[string]any{"nonce": nonce, "regcase_role": role, "preferred_username": "olga",
				"email": "olga@example.gov", "email_verified": true}).Serialize()
		if err != nil {
			http.Error(w, err.Error(), 500)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(map[string]any{"access_token": "at", "token_type": "Bearer", "expires_in": 3600, "id_token": raw})
	})
	p.srv = httptest.NewServer(mux)
	t.Cleanup(p.srv.Close)
	return p
}

func (p *fakeIdP) set(nonce, role string) {
	p.mu.Lock()
	p.nonce, p.role = nonce, role
	p.mu.Unlock()
}

func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// TestConsoleOIDCSignIn: the console signs an officer in through the
// provider (code flow, state bound to the browser, nonce, PKCE) with the
// role from the ID token; a forged state or a wrong nonce signs nobody in.
func TestConsoleOIDCSignIn(t *testing.T) {
	idp := newFakeIdP(t, "regcase-console", "supervisor")
	addr := freeAddr(t)
	s := startServer(t, "sqlite", "REGCASE_ENV=development", "REGCASE_HTTP_ADDR="+addr,
		"REGCASE_OIDC_ISSUER="+idp.srv.URL, "REGCASE_OIDC_AUDIENCE=regcase-console",
		"REGCASE_OIDC_CLIENT_ID=regcase-console", "REGCASE_OIDC_CLIENT_SECRET=s3cret", "REGCASE_PUBLIC_URL=http://"+addr)
	browser := func() *http.Client {
		jar, _ := cookiejar.New(nil)
		return &http.Client{Jar: jar, Timeout: 10 * time.Second}
	}
	get := func(c *http.Client, u string) (*http.Response, string) {
		t.Helper()
		resp, err := c.Get(u)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp, string(b)
	}

	t.Run("OK", func(t *testing.T) {
		resp, body := get(browser(), s.URL+"/console/oidc/login?next=/console/cases")
		if resp.StatusCode != 200 || resp.Request.URL.Path != "/console/cases" {
			t.Fatalf("ended at %s with %d, want /console/cases 200", resp.Request.URL, resp.StatusCode)
		}
		if !strings.Contains(body, "olga") {
			t.Errorf("the page does not name the signed-in officer")
		}
		// The request log is written asynchronously (internal/asynclog): wait
		// for the line rather than read the log at once.
		deadline := time.Now().Add(5 * time.Second)
		for !strings.Contains(s.Stderr.String(), `"actor":"oidc:u-7","role":"supervisor"`) {
			if time.Now().After(deadline) {
				t.Errorf("request log does not name the OIDC officer and role")
				break
			}
			time.Sleep(20 * time.Millisecond)
		}
	})
	t.Run("VerifiedEmailBecomesTheNotificationAddress", func(t *testing.T) {
		c := browser()
		if resp, _ := get(c, s.URL+"/console/oidc/login"); resp.Request.URL.Path == "/console/login" {
			t.Fatalf("sign-in ended at %s", resp.Request.URL)
		}
		_, page := get(c, s.URL+"/console/notifications")
		if !strings.Contains(page, "olga@example.gov") {
			t.Errorf("the notifications page does not show the provider's verified address")
		}
		if strings.Contains(s.Stderr.String(), "olga@example.gov") {
			t.Errorf("the address reached the log")
		}
	})
	t.Run("ErrForgedState", func(t *testing.T) {
		resp, _ := get(browser(), s.URL+"/console/oidc/callback?code=abc&state=forged")
		if resp.Request.URL.Path != "/console/login" || resp.Request.URL.Query().Get("ended") != "oidc" {
			t.Fatalf("forged state ended at %s, want the sign-in page", resp.Request.URL)
		}
	})
	t.Run("ErrWrongNonce", func(t *testing.T) {
		idp.set("replayed-token-nonce", "supervisor")
		defer idp.set("", "supervisor")
		resp, _ := get(browser(), s.URL+"/console/oidc/login")
		if resp.Request.URL.Path != "/console/login" {
			t.Fatalf("wrong nonce ended at %s, want the sign-in page", resp.Request.URL)
		}
	})
	t.Run("ErrNoRole", func(t *testing.T) {
		idp.set("", "root")
		defer idp.set("", "supervisor")
		resp, _ := get(browser(), s.URL+"/console/oidc/login")
		if resp.Request.URL.Path != "/console/login" {
			t.Fatalf("no valid role ended at %s, want the sign-in page", resp.Request.URL)
		}
	})
}
