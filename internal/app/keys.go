package app

import (
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"

	"github.com/regcase/regcase/internal/config"
)

// keys are the key material of a process.
type keys struct {
	dataKey []byte
	signing ed25519.PrivateKey
	public  ed25519.PublicKey
}

// ensureKeys fills missing keys for the embedded mode (SQLite outside
// production) by reading or generating files in the data directory, which
// every command pointed at that directory shares. It never replaces a
// configured key. A command that encrypts reporter data or webhook secrets
// (all, api, seed, worker) without a data key is a configuration error.
func ensureKeys(c *config.Config, log *slog.Logger, cmd string) (*keys, error) {
	k := &keys{dataKey: c.DataKey, signing: c.SigningKey, public: c.PublicKey}
	if !c.IsSQLite() || c.Env == "production" {
		if k.dataKey == nil && (cmd == "all" || cmd == "api" || cmd == "seed" || cmd == "worker") {
			return nil, &config.Error{Var: "REGCASE_DATA_KEY", Msg: "required with PostgreSQL or in production: 32 bytes, base64 (openssl rand -base64 32)"}
		}
		return k, nil
	}
	if k.dataKey == nil {
		b, created, err := keyFile(filepath.Join(c.DataDir, "data.key"), 32)
		if err != nil {
			return nil, &config.Error{Var: "REGCASE_DATA_KEY", Msg: err.Error()}
		}
		if created {
			log.Warn("generated a reporter-data key in the data directory; back it up, without it reporter contact details are unreadable",
				slog.String("file", filepath.Join(c.DataDir, "data.key")))
		}
		k.dataKey = b
	}
	if k.signing == nil && k.public == nil { // a configured public key means the signer lives elsewhere
		b, created, err := keyFile(filepath.Join(c.DataDir, "audit-signing.key"), ed25519.SeedSize)
		if err != nil {
			return nil, &config.Error{Var: "REGCASE_AUDIT_SIGNING_KEY", Msg: err.Error()}
		}
		k.signing = ed25519.NewKeyFromSeed(b)
		k.public = k.signing.Public().(ed25519.PublicKey)
		if created {
			log.Warn("generated an audit signing key in the data directory; keep a copy of the public key outside the database host",
				slog.String("file", filepath.Join(c.DataDir, "audit-signing.key")),
				slog.String("public_key", base64.StdEncoding.EncodeToString(k.public)))
		}
	}
	return k, nil
}

func keyFile(path string, size int) ([]byte, bool, error) {
	if b, err := os.ReadFile(path); err == nil {
		raw, err := base64.StdEncoding.DecodeString(string(trimNL(b)))
		if err != nil || len(raw) != size {
			return nil, false, fmt.Errorf("%s is not a base64 key of %d bytes", path, size)
		}
		return raw, false, nil
	} else if !os.IsNotExist(err) {
		return nil, false, err
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, false, err
	}
	raw := make([]byte, size)
	if _, err := rand.Read(raw); err != nil {
		return nil, false, err
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return nil, false, err
	}
	defer f.Close()
	if _, err := f.WriteString(base64.StdEncoding.EncodeToString(raw) + "\n"); err != nil {
		return nil, false, err
	}
	return raw, true, f.Sync()
}

func trimNL(b []byte) []byte {
	for len(b) > 0 && (b[len(b)-1] == '\n' || b[len(b)-1] == '\r') {
		b = b[:len(b)-1]
	}
	return b
}
