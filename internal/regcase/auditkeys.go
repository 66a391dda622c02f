package regcase

import (
	"crypto/ed25519"
	"encoding/base64"
	"fmt"
	"strings"

	"golang.org/x/mod/sumdb/note"
)

// AuditKeys is the set of public keys audit signatures are checked with:
// every key the log was ever signed with, so that checkpoints signed before
// a key rotation keep verifying after it. Keys are note verifier keys
// (`<name>+<hash>+<base64 key>`, as `regcase audit keygen` prints them);
// chain checkpoints are matched by KeyID, tree checkpoints by note key name
// and hash. The zero value and nil hold no key.
type AuditKeys struct {
	verifiers []note.Verifier
	vkeys     []string
	byKeyID   map[string]ed25519.PublicKey
}

// ParseAuditKeys reads note verifier keys separated by commas, spaces or
// newlines (lines starting with # are comments). EInvalid names a bad key.
func ParseAuditKeys(text string) (*AuditKeys, error) {
	ks := &AuditKeys{}
	for _, line := range strings.Split(text, "\n") {
		if strings.HasPrefix(strings.TrimSpace(line), "#") {
			continue
		}
		for _, f := range strings.FieldsFunc(line, func(r rune) bool { return r == ',' || r == ' ' || r == '\t' || r == '\r' }) {
			if err := ks.AddVerifierKey(f); err != nil {
				return nil, err
			}
		}
	}
	return ks, nil
}

// AddVerifierKey adds one note verifier key (EInvalid if malformed or not
// Ed25519). Adding a key twice is harmless.
func (ks *AuditKeys) AddVerifierKey(vkey string) error {
	for _, k := range ks.vkeys {
		if k == vkey {
			return nil
		}
	}
	v, err := note.NewVerifier(vkey)
	if err != nil {
		return Errorf(EInvalid, "audit public key %q is not a note verifier key (name+hash+base64): %v", vkey, err)
	}
	parts := strings.SplitN(vkey, "+", 3)
	raw, err := base64.StdEncoding.DecodeString(parts[2])
	if err != nil || len(raw) != 1+ed25519.PublicKeySize || raw[0] != 1 {
		return Errorf(EInvalid, "audit public key %q is not an Ed25519 note key", vkey)
	}
	if ks.byKeyID == nil {
		ks.byKeyID = map[string]ed25519.PublicKey{}
	}
	pub := ed25519.PublicKey(raw[1:])
	ks.byKeyID[KeyID(pub)] = pub
	ks.verifiers = append(ks.verifiers, v)
	ks.vkeys = append(ks.vkeys, vkey)
	return nil
}

// AddEd25519 adds a raw Ed25519 public key under the note key name origin.
func (ks *AuditKeys) AddEd25519(origin string, pub ed25519.PublicKey) error {
	vkey, err := note.NewEd25519VerifierKey(origin, pub)
	if err != nil {
		return Errorf(EInvalid, "audit key name %q: %v", origin, err)
	}
	return ks.AddVerifierKey(vkey)
}

// Len is the number of keys.
func (ks *AuditKeys) Len() int {
	if ks == nil {
		return 0
	}
	return len(ks.vkeys)
}

// VerifierKeys returns the keys in the order added.
func (ks *AuditKeys) VerifierKeys() []string {
	if ks == nil {
		return nil
	}
	return append([]string(nil), ks.vkeys...)
}

// Verifiers is the set as note verifiers.
func (ks *AuditKeys) Verifiers() note.Verifiers {
	if ks == nil {
		return note.VerifierList()
	}
	return note.VerifierList(ks.verifiers...)
}

// ByKeyID returns the Ed25519 key a chain checkpoint's KeyID names.
func (ks *AuditKeys) ByKeyID(id string) (ed25519.PublicKey, bool) {
	if ks == nil {
		return nil, false
	}
	k, ok := ks.byKeyID[id]
	return k, ok
}

// Union returns a new set with the keys of both (either may be nil).
func (ks *AuditKeys) Union(other *AuditKeys) *AuditKeys {
	out := &AuditKeys{}
	for _, set := range []*AuditKeys{ks, other} {
		for _, k := range set.VerifierKeys() {
			_ = out.AddVerifierKey(k) // already valid
		}
	}
	return out
}

// NewNoteSigner returns the note signer of an Ed25519 audit signing key
// under the key name origin (the log's origin line), and its verifier key.
func NewNoteSigner(origin string, key ed25519.PrivateKey) (note.Signer, string, error) {
	vkey, err := note.NewEd25519VerifierKey(origin, key.Public().(ed25519.PublicKey))
	if err != nil {
		return nil, "", Errorf(EInvalid, "audit origin %q is not a valid note key name: %v", origin, err)
	}
	// A note signer key is PRIVATE+KEY+<name>+<hash>+base64(0x01 || seed),
	// the hash being the verifier key's.
	parts := strings.SplitN(vkey, "+", 3)
	skey := fmt.Sprintf("PRIVATE+KEY+%s+%s+%s", parts[0], parts[1],
		base64.StdEncoding.EncodeToString(append([]byte{1}, key.Seed()...)))
	s, err := note.NewSigner(skey)
	if err != nil {
		return nil, "", Internal(fmt.Errorf("note signer: %w", err))
	}
	return s, vkey, nil
}
