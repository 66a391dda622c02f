package config

import (
	"net/url"
	"os"
	"path/filepath"
	"strings"

	"golang.org/x/mod/sumdb/note"
)

// AuditLog configures the Merkle audit log's checkpoints.
type AuditLog struct {
	// Origin is the first line of every checkpoint and the note name of the
	// signing key: REGCASE_AUDIT_ORIGIN, by default <host of
	// REGCASE_PUBLIC_URL>/regcase/audit (regcase.local/regcase/audit
	// without one). Every replica must agree on it.
	Origin string
	// PublicKeys are note verifier keys (name+hash+base64) from
	// REGCASE_AUDIT_PUBLIC_KEYS or _FILE: every key checkpoints were ever
	// signed with, so that old ones keep verifying after a rotation.
	PublicKeys []string
	// WitnessDir is an append-only directory (a volume the database holder
	// does not control) that receives a copy of every new checkpoint.
	WitnessDir string
}

// DefaultAuditOrigin is the origin REGCASE_AUDIT_ORIGIN defaults to.
func DefaultAuditOrigin(getenv func(string) string) string {
	if v := getenv("REGCASE_AUDIT_ORIGIN"); v != "" {
		return v
	}
	return defaultOrigin(strings.TrimRight(getenv("REGCASE_PUBLIC_URL"), "/"))
}

func defaultOrigin(publicURL string) string {
	if u, err := url.Parse(publicURL); publicURL != "" && err == nil && u.Hostname() != "" {
		return u.Hostname() + "/regcase/audit"
	}
	return "regcase.local/regcase/audit"
}

// auditLog reads the AuditLog settings (after PublicURL).
func (r *reader) auditLog(c *Config) {
	a := &c.AuditLog
	a.Origin = r.str("REGCASE_AUDIT_ORIGIN", defaultOrigin(c.PublicURL))
	if a.Origin == "" || strings.ContainsAny(a.Origin, "+ \t\r\n") {
		r.fail("REGCASE_AUDIT_ORIGIN", "%q must be a non-empty name without spaces or '+', like cases.example.gov/regcase/audit", a.Origin)
	}
	for _, line := range strings.Split(r.secret("REGCASE_AUDIT_PUBLIC_KEYS"), "\n") {
		if strings.HasPrefix(strings.TrimSpace(line), "#") {
			continue
		}
		for _, k := range strings.FieldsFunc(line, func(r rune) bool { return r == ',' || r == ' ' || r == '\t' || r == '\r' }) {
			if _, err := note.NewVerifier(k); err != nil {
				r.fail("REGCASE_AUDIT_PUBLIC_KEYS", "%q is not a note verifier key (name+hash+base64, as regcase audit keygen prints): %v", k, err)
				continue
			}
			a.PublicKeys = append(a.PublicKeys, k)
		}
	}
	if d := r.str("REGCASE_AUDIT_WITNESS_DIR", ""); d != "" {
		a.WitnessDir = filepath.Clean(d)
		if st, err := os.Stat(a.WitnessDir); err == nil && !st.IsDir() {
			r.fail("REGCASE_AUDIT_WITNESS_DIR", "%s is not a directory", a.WitnessDir)
		}
	}
}
