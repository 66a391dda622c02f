package regcase

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
)

// Keyring protects reporter PII with envelope encryption: each report gets
// its own random data key, which encrypts the contact details and is itself
// wrapped with the platform key. Destroying the wrapped key (erasure) makes
// the ciphertext unreadable for good: crypto-shredding.
type Keyring struct {
	master cipher.AEAD
	status []byte // HMAC key deriving status secrets
	digest []byte // HMAC key of content digests (request hashes, note digests)
	rand   io.Reader
}

// NewKeyring builds a keyring from a 32-byte platform key.
func NewKeyring(key []byte, random io.Reader) (*Keyring, error) {
	if len(key) != 32 {
		return nil, fmt.Errorf("data key must be 32 bytes, got %d", len(key))
	}
	aead, err := newGCM(key)
	if err != nil {
		return nil, err
	}
	return &Keyring{master: aead, status: deriveKey(key, "regcase status secret v1"),
		digest: deriveKey(key, "regcase content digest v1"), rand: random}, nil
}

// deriveKey derives a subkey of the platform key for one purpose
// (HMAC-SHA256 keyed with the platform key over a label that names the
// purpose), so no two uses share a key.
func deriveKey(key []byte, label string) []byte {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(label))
	return m.Sum(nil)
}

// Digest is the keyed digest (HMAC-SHA256 with a subkey of the platform
// key) of content whose plain hash would let someone with a database dump
// confirm a guess offline: the intake request of a report (which holds the
// reporter's contact details), a note's text. purpose separates the uses.
// Without the platform key a digest reveals nothing about the content.
func (k *Keyring) Digest(purpose string, content []byte) []byte {
	m := hmac.New(sha256.New, k.digest)
	m.Write([]byte(purpose))
	m.Write([]byte{0})
	m.Write(content)
	return m.Sum(nil)
}

func newGCM(key []byte) (cipher.AEAD, error) {
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	return cipher.NewGCM(block)
}

func (k *Keyring) seal(aead cipher.AEAD, plain, ad []byte) ([]byte, error) {
	nonce := make([]byte, aead.NonceSize())
	if _, err := io.ReadFull(k.rand, nonce); err != nil {
		return nil, err
	}
	return aead.Seal(nonce, nonce, plain, ad), nil
}

func open(aead cipher.AEAD, sealed, ad []byte) ([]byte, error) {
	n := aead.NonceSize()
	if len(sealed) < n {
		return nil, errors.New("ciphertext too short")
	}
	return aead.Open(nil, sealed[:n], sealed[n:], ad)
}

// newDataKey draws a random 32-byte data key and its AES-GCM.
func (k *Keyring) newDataKey() ([]byte, cipher.AEAD, error) {
	dataKey := make([]byte, 32)
	if _, err := io.ReadFull(k.rand, dataKey); err != nil {
		return nil, nil, err
	}
	aead, err := newGCM(dataKey)
	if err != nil {
		return nil, nil, err
	}
	return dataKey, aead, nil
}

// Encrypt returns the ciphertext of r and the wrapped per-report key. The
// report id is bound as associated data, so ciphertexts cannot be swapped
// between reports.
func (k *Keyring) Encrypt(reportID string, r *Reporter) (cipherText, wrappedKey []byte, err error) {
	dataKey, aead, err := k.newDataKey()
	if err != nil {
		return nil, nil, err
	}
	plain, err := json.Marshal(r)
	if err != nil {
		return nil, nil, err
	}
	if cipherText, err = k.seal(aead, plain, []byte(reportID)); err != nil {
		return nil, nil, err
	}
	if wrappedKey, err = k.seal(k.master, dataKey, []byte("key:"+reportID)); err != nil {
		return nil, nil, err
	}
	return cipherText, wrappedKey, nil
}

// Decrypt recovers a report's contact details. It fails after erasure.
func (k *Keyring) Decrypt(reportID string, cipherText, wrappedKey []byte) (*Reporter, error) {
	if wrappedKey == nil {
		return nil, errors.New("reporter data erased")
	}
	dataKey, err := open(k.master, wrappedKey, []byte("key:"+reportID))
	if err != nil {
		return nil, fmt.Errorf("unwrap data key: %w", err)
	}
	aead, err := newGCM(dataKey)
	if err != nil {
		return nil, err
	}
	plain, err := open(aead, cipherText, []byte(reportID))
	if err != nil {
		return nil, fmt.Errorf("decrypt reporter: %w", err)
	}
	var r Reporter
	if err := json.Unmarshal(plain, &r); err != nil {
		return nil, err
	}
	return &r, nil
}

// SealSecret encrypts a stored secret (a webhook signing secret) with the
// platform key, bound to purpose (e.g. "webhook:<id>").
func (k *Keyring) SealSecret(purpose string, plain []byte) ([]byte, error) {
	return k.seal(k.master, plain, []byte("secret:"+purpose))
}

// OpenSecret decrypts what SealSecret sealed for the same purpose.
func (k *Keyring) OpenSecret(purpose string, sealed []byte) ([]byte, error) {
	return open(k.master, sealed, []byte("secret:"+purpose))
}

// StatusSecret derives the status secret of a report. It is derived rather
// than stored, so an idempotent replay can return it again; only its hash is
// stored.
func (k *Keyring) StatusSecret(reportID string) string {
	m := hmac.New(sha256.New, k.status)
	m.Write([]byte(reportID))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil)[:24])
}

// HashSecret returns the stored form of a secret (status secret, API token).
func HashSecret(secret string) []byte {
	s := sha256.Sum256([]byte(secret))
	return s[:]
}

// ContentKey is a random data key of one piece of reporter content (a
// channel message, an evidence file), used like the per-report key of the
// contact details: it encrypts the content and is stored only wrapped with
// the platform key, so deleting the wrapped key and the ciphertext shreds
// the content.
type ContentKey struct {
	k    *Keyring
	aead cipher.AEAD
}

// NewContentKey makes a fresh data key for the content named by purpose
// (e.g. "message:<id>") and returns it with its wrapped form to store.
func (k *Keyring) NewContentKey(purpose string) (*ContentKey, []byte, error) {
	dataKey, aead, err := k.newDataKey()
	if err != nil {
		return nil, nil, err
	}
	wrapped, err := k.seal(k.master, dataKey, []byte("content-key:"+purpose))
	if err != nil {
		return nil, nil, err
	}
	return &ContentKey{k: k, aead: aead}, wrapped, nil
}

// OpenContentKey unwraps what NewContentKey returned for the same purpose.
func (k *Keyring) OpenContentKey(purpose string, wrapped []byte) (*ContentKey, error) {
	dataKey, err := open(k.master, wrapped, []byte("content-key:"+purpose))
	if err != nil {
		return nil, fmt.Errorf("unwrap content key: %w", err)
	}
	aead, err := newGCM(dataKey)
	if err != nil {
		return nil, err
	}
	return &ContentKey{k: k, aead: aead}, nil
}

// Seal encrypts plain, bound to ad (which names the piece: a chunk's
// number, a message id), so pieces cannot be swapped or reordered.
func (c *ContentKey) Seal(plain, ad []byte) ([]byte, error) { return c.k.seal(c.aead, plain, ad) }

// Open decrypts what Seal sealed with the same ad.
func (c *ContentKey) Open(sealed, ad []byte) ([]byte, error) { return open(c.aead, sealed, ad) }

// SealTo is Seal writing into buf's storage when it is large enough (a
// stream of chunks then allocates nothing per chunk).
func (c *ContentKey) SealTo(buf, plain, ad []byte) ([]byte, error) {
	n := c.aead.NonceSize()
	if cap(buf) < n {
		buf = make([]byte, n, n+len(plain)+c.aead.Overhead())
	}
	nonce := buf[:n]
	if _, err := io.ReadFull(c.k.rand, nonce); err != nil {
		return nil, err
	}
	return c.aead.Seal(nonce, nonce, plain, ad), nil
}

// OpenTo is Open writing into buf's storage when it is large enough.
func (c *ContentKey) OpenTo(buf, sealed, ad []byte) ([]byte, error) {
	n := c.aead.NonceSize()
	if len(sealed) < n {
		return nil, errors.New("ciphertext too short")
	}
	return c.aead.Open(buf[:0], sealed[:n], sealed[n:], ad)
}

// SealedOverhead is what Seal adds to a plaintext (nonce and tag).
const SealedOverhead = 12 + 16
