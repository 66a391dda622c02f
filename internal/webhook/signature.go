// Package webhook delivers signed webhooks: Standard Webhooks signatures
// (webhook-id, webhook-timestamp, webhook-signature) over CloudEvents 1.0
// structured JSON bodies, an SSRF guard for subscription URLs and for every
// connection a delivery opens, one delivery attempt, and the retry backoff.
//
// It knows nothing of the store: the delivery worker claims deliveries,
// calls Sender.Send and records the Result.
package webhook

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/regcase/regcase/internal/regcase"
)

// SecretPrefix starts every signing secret.
const SecretPrefix = regcase.WebhookSecretPrefix

// Secret key sizes. NewSecret makes keys of SecretSize bytes; ParseSecret
// accepts the range the Standard Webhooks spec recommends.
const (
	SecretSize    = 32
	minSecretSize = 24
	maxSecretSize = 64
)

// NewSecret returns a new signing secret: "whsec_" followed by the standard
// base64 of SecretSize bytes read from r (crypto/rand.Reader in production).
// It fails only when r does.
func NewSecret(r io.Reader) (string, error) {
	key := make([]byte, SecretSize)
	if _, err := io.ReadFull(r, key); err != nil {
		return "", fmt.Errorf("webhook secret: read random bytes: %w", err)
	}
	return SecretPrefix + base64.StdEncoding.EncodeToString(key), nil
}

// ParseSecret returns the key bytes of a "whsec_<base64>" secret. It returns
// a *regcase.Error with code EInvalid and field "secret" when the prefix is
// missing, the rest is not standard base64, or the key is not 24 to 64 bytes
// long. The message never repeats the secret.
func ParseSecret(s string) ([]byte, error) {
	rest, ok := strings.CutPrefix(s, SecretPrefix)
	if !ok {
		return nil, regcase.FieldError("secret", "a webhook secret starts with %q", SecretPrefix)
	}
	key, err := base64.StdEncoding.DecodeString(rest)
	if err != nil {
		return nil, regcase.FieldError("secret", "a webhook secret is %q followed by standard base64", SecretPrefix)
	}
	if len(key) < minSecretSize || len(key) > maxSecretSize {
		return nil, regcase.FieldError("secret", "a webhook secret key is %d to %d bytes long, not %d",
			minSecretSize, maxSecretSize, len(key))
	}
	return key, nil
}

// Sign returns the webhook-signature header value for one message:
// "v1," followed by the standard base64 of
// HMAC-SHA256(key, msgID + "." + unix seconds of ts + "." + body).
func Sign(key []byte, msgID string, ts time.Time, body []byte) string {
	mac := hmac.New(sha256.New, key)
	mac.Write([]byte(msgID))
	mac.Write([]byte{'.'})
	mac.Write(strconv.AppendInt(nil, ts.Unix(), 10))
	mac.Write([]byte{'.'})
	mac.Write(body)
	return "v1," + base64.StdEncoding.EncodeToString(mac.Sum(nil))
}
