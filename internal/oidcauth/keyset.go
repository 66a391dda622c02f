package oidcauth

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"sync"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"golang.org/x/sync/singleflight"
)

// DefaultRefreshEvery is the least time between two JWKS fetches caused by
// tokens whose key id is not in the cached key set.
const DefaultRefreshEvery = 30 * time.Second

// signingAlgs are the JWS algorithms a provider's keys may use.
var signingAlgs = []jose.SignatureAlgorithm{jose.RS256, jose.RS384, jose.RS512, jose.PS256, jose.PS384, jose.PS512,
	jose.ES256, jose.ES384, jose.ES512, jose.EdDSA}

// errUnknownKey is returned for a token signed with a key id the cached
// key set does not hold while a refresh is not allowed yet.
var errUnknownKey = errors.New("token signed with an unknown key id")

// keySet is the provider's JWKS, cached. A token naming an unknown key id
// refreshes it at most once per every (a flood of tokens with made-up key
// ids costs the provider one fetch per interval, not one per token), and
// concurrent refreshes are one fetch (singleflight). It implements
// oidc.KeySet.
type keySet struct {
	url    string
	client *http.Client
	every  time.Duration
	now    func() time.Time

	mu      sync.Mutex
	keys    []jose.JSONWebKey
	fetched time.Time // last fetch attempt; zero before the first
	group   singleflight.Group
}

func newKeySet(url string, every time.Duration) *keySet {
	if every <= 0 {
		every = DefaultRefreshEvery
	}
	return &keySet{url: url, client: &http.Client{Timeout: 10 * time.Second}, every: every, now: time.Now}
}

// VerifySignature checks the JWS signature of raw against the cached keys,
// refreshing them (within the rate limit) when no key has its key id.
func (k *keySet) VerifySignature(ctx context.Context, raw string) ([]byte, error) {
	jws, err := jose.ParseSignedCompact(raw, signingAlgs)
	if err != nil {
		return nil, fmt.Errorf("malformed JWS: %w", err)
	}
	if len(jws.Signatures) != 1 {
		return nil, errors.New("want exactly one signature")
	}
	kid := jws.Signatures[0].Header.KeyID
	keys, found := k.lookup(kid)
	if !found {
		if !k.mayRefresh() {
			return nil, errUnknownKey
		}
		if _, err, _ := k.group.Do("jwks", func() (any, error) { return nil, k.refresh(ctx) }); err != nil {
			return nil, err
		}
		if keys, found = k.lookup(kid); !found {
			return nil, errUnknownKey
		}
	}
	for _, key := range keys {
		if payload, err := jws.Verify(key); err == nil {
			return payload, nil
		}
	}
	return nil, errors.New("signature does not verify")
}

// lookup returns the cached keys with kid (every key when kid is empty).
func (k *keySet) lookup(kid string) ([]jose.JSONWebKey, bool) {
	k.mu.Lock()
	defer k.mu.Unlock()
	var out []jose.JSONWebKey
	for _, key := range k.keys {
		if kid == "" || key.KeyID == kid {
			out = append(out, key)
		}
	}
	return out, len(out) > 0
}

// mayRefresh takes the refresh slot when the last fetch is old enough.
func (k *keySet) mayRefresh() bool {
	k.mu.Lock()
	defer k.mu.Unlock()
	now := k.now()
	if !k.fetched.IsZero() && now.Sub(k.fetched) < k.every {
		return false
	}
	k.fetched = now
	return true
}

func (k *keySet) refresh(ctx context.Context) error {
	// The key set outlives the request that asked for it.
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, k.url, nil)
	if err != nil {
		return err
	}
	resp, err := k.client.Do(req)
	if err != nil {
		return fmt.Errorf("fetch JWKS: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("fetch JWKS: %s", resp.Status)
	}
	var set jose.JSONWebKeySet
	if err := json.NewDecoder(io.LimitReader(resp.Body, 1<<20)).Decode(&set); err != nil {
		return fmt.Errorf("decode JWKS: %w", err)
	}
	var keys []jose.JSONWebKey
	for _, key := range set.Keys {
		if key.Use == "" || key.Use == "sig" {
			keys = append(keys, key)
		}
	}
	k.mu.Lock()
	k.keys = keys
	k.mu.Unlock()
	return nil
}
