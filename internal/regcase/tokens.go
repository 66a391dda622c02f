package regcase

import (
	"context"
	"crypto/subtle"
	"encoding/base64"
	"io"
	"regexp"
	"strings"
	"sync"
	"time"
)

// TokenPrefix starts every API token, so leaked tokens are easy to scan for.
const TokenPrefix = "rct_"

var tokenNameRE = regexp.MustCompile(`^[a-zA-Z0-9][a-zA-Z0-9._@-]{0,99}$`)

// CreateToken mints an API token for a role. The secret is returned once;
// only its hash is stored. The audit log and assignments record the
// token's id as "token:<id>" (TokenActorID), never its name: a name can be
// reused once its token is revoked. The name is unique among active tokens,
// so it can still be given (and shown) in its place.
// Errors: EInvalid, EConflict for a name in use.
func (s *Service) CreateToken(ctx context.Context, a Actor, name string, role Role) (*APIToken, string, error) {
	if err := Authorize(a, ActTokenManage); err != nil {
		return nil, "", err
	}
	if !tokenNameRE.MatchString(name) {
		return nil, "", FieldError("name", "name must be 1-100 characters of letters, digits, '.', '_', '@' or '-'")
	}
	if _, err := ParseRole(string(role)); err != nil {
		return nil, "", err
	}
	raw := make([]byte, 32)
	if _, err := io.ReadFull(s.cfg.Random, raw); err != nil {
		return nil, "", Internal(err)
	}
	secret := TokenPrefix + base64.RawURLEncoding.EncodeToString(raw)
	now := s.now()
	t := &APIToken{ID: s.cfg.NewID(), Name: name, Role: role, Hash: HashSecret(secret), CreatedAt: now}
	err := s.cfg.Store.InTx(ctx, func(tx Tx) error {
		// The schema keeps one active token per name (a unique index), so
		// concurrent creations cannot both win; a conflict here is that.
		if err := tx.InsertToken(ctx, t); err != nil {
			if ErrorCodeOf(err) == EConflict {
				return Errorf(EConflict, "an active token named %q exists; revoke it first", name)
			}
			return err
		}
		return s.record(ctx, tx, a, now, change{action: "token.created", entityType: "token", entityID: t.ID,
			data: map[string]any{"name": name, "role": role}})
	})
	if err != nil {
		return nil, "", err
	}
	return t, secret, nil
}

// ListTokens lists tokens (never secrets).
func (s *Service) ListTokens(ctx context.Context, a Actor) ([]*APIToken, error) {
	if err := Authorize(a, ActTokenManage); err != nil {
		return nil, err
	}
	return s.cfg.Store.ListTokens(ctx)
}

// RevokeToken revokes a token by id. Errors: ENotFound, EConflict if revoked.
func (s *Service) RevokeToken(ctx context.Context, a Actor, id string) error {
	if err := Authorize(a, ActTokenManage); err != nil {
		return err
	}
	defer s.tokens.clear()
	return s.cfg.Store.InTx(ctx, func(tx Tx) error {
		now := s.now()
		if err := tx.RevokeToken(ctx, id, now); err != nil {
			return err
		}
		return s.record(ctx, tx, a, now, change{action: "token.revoked", entityType: "token", entityID: id,
			data: map[string]any{}})
	})
}

// TokenCacheTTL bounds how long a process trusts a token it has already
// looked up: a revocation made on another replica takes effect within it.
const TokenCacheTTL = 10 * time.Second

type tokenCache struct {
	mu      sync.Mutex
	entries map[string]tokenEntry
}

type tokenEntry struct {
	actor   Actor
	expires time.Time
}

func (c *tokenCache) get(key string, now time.Time) (Actor, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.entries[key]
	if !ok || now.After(e.expires) {
		return Actor{}, false
	}
	return e.actor, true
}

func (c *tokenCache) put(key string, a Actor, now time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.entries == nil || len(c.entries) > 10_000 {
		c.entries = map[string]tokenEntry{}
	}
	c.entries[key] = tokenEntry{actor: a, expires: now.Add(TokenCacheTTL)}
}

func (c *tokenCache) clear() {
	c.mu.Lock()
	c.entries = nil
	c.mu.Unlock()
}

// Authenticate resolves a bearer token to an actor. Valid tokens are cached
// for TokenCacheTTL. Errors: EUnauthorized for an unknown, malformed or
// revoked token.
func (s *Service) Authenticate(ctx context.Context, secret string) (Actor, error) {
	bad := Errorf(EUnauthorized, "invalid or revoked token")
	if !strings.HasPrefix(secret, TokenPrefix) || len(secret) > 200 {
		return Actor{}, bad
	}
	h := HashSecret(secret)
	now := s.cfg.Now()
	if a, ok := s.tokens.get(string(h), now); ok {
		return a, nil
	}
	a, err := s.CheckTokenHash(ctx, h)
	if err != nil {
		return Actor{}, err
	}
	s.tokens.put(string(h), a, now)
	return a, nil
}

// CheckTokenHash is the one token check: the token whose secret hashes to
// h exists and is not revoked. It asks the store every time (no cache), so a
// caller that holds a hash for a long session (the console) sees a
// revocation at its next check. Errors: EUnauthorized for an unknown or
// revoked token; store errors as they come.
func (s *Service) CheckTokenHash(ctx context.Context, h []byte) (Actor, error) {
	t, err := s.cfg.Store.GetTokenByHash(ctx, h)
	if ErrorCodeOf(err) == ENotFound {
		return Actor{}, Errorf(EUnauthorized, "invalid or revoked token")
	}
	if err != nil {
		return Actor{}, err
	}
	if t.RevokedAt != nil || subtle.ConstantTimeCompare(t.Hash, h) != 1 {
		return Actor{}, Errorf(EUnauthorized, "invalid or revoked token")
	}
	return Actor{ID: TokenActorID(t.ID), Name: t.Name, Role: t.Role}, nil
}

// TokenActorID is the stable actor id of an API token: "token:<id>".
func TokenActorID(tokenID string) string { return "token:" + tokenID }

// ResolveAssignee turns what an officer typed as an assignee into an actor
// id: an actor id ("token:<id>" of an active token, or "oidc:<subject>")
// is kept; anything else is taken as the name of an active token and
// becomes that token's id. Errors: EInvalid naming the field when no
// active token has that id or name.
func (s *Service) ResolveAssignee(ctx context.Context, field, who string) (string, error) {
	who = strings.TrimSpace(who)
	if who == "" || strings.HasPrefix(who, "oidc:") {
		return who, nil
	}
	toks, err := s.cfg.Store.ListTokens(ctx)
	if err != nil {
		return "", err
	}
	for _, t := range toks {
		if t.RevokedAt == nil && (who == TokenActorID(t.ID) || who == t.Name) {
			return TokenActorID(t.ID), nil
		}
	}
	return "", FieldError(field, "no active officer %q: give a token name, token:<id> or oidc:<subject>", who)
}

// ActorNames maps the actor ids of tokens to their names, for display.
func (s *Service) ActorNames(ctx context.Context) (map[string]string, error) {
	toks, err := s.cfg.Store.ListTokens(ctx)
	if err != nil {
		return nil, err
	}
	out := make(map[string]string, len(toks))
	for _, t := range toks {
		out[TokenActorID(t.ID)] = t.Name
	}
	return out, nil
}
