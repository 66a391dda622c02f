package config

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestSMTP(t *testing.T) {
	t.Run("Defaults", func(t *testing.T) {
		c, err := Load(env(nil), "worker")
		if err != nil {
			t.Fatal(err)
		}
		s := c.SMTP
		if s.Host != "" || s.Port != 587 || s.StartTLS != "required" || s.MaxAttempts != 10 || s.BackoffBase != 30*time.Second || c.DashboardMaxAge != 30*time.Second {
			t.Errorf("defaults = %+v, dashboard max age %v", s, c.DashboardMaxAge)
		}
	})
	t.Run("OKPasswordFileMasked", func(t *testing.T) {
		f := filepath.Join(t.TempDir(), "smtp-password")
		if err := os.WriteFile(f, []byte("hunter2\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		c, err := Load(env(map[string]string{"REGCASE_SMTP_HOST": "smtp.example.gov", "REGCASE_SMTP_FROM": "regcase@example.gov",
			"REGCASE_SMTP_USERNAME": "regcase", "REGCASE_SMTP_PASSWORD_FILE": f, "REGCASE_SMTP_STARTTLS": "opportunistic"}), "worker")
		if err != nil {
			t.Fatal(err)
		}
		if c.SMTP.Password != "hunter2" || c.SMTP.StartTLS != "opportunistic" {
			t.Errorf("smtp = %+v", c.SMTP)
		}
		var b strings.Builder
		for _, a := range c.LogAttrs() {
			b.WriteString(strings.ToLower(strings.TrimSpace(toString(a))))
		}
		if strings.Contains(b.String(), "hunter2") {
			t.Error("the SMTP password is in the startup log attributes")
		}
	})
	for _, tc := range []struct {
		name string
		env  map[string]string
		want string
	}{
		{"ErrStartTLS", map[string]string{"REGCASE_SMTP_STARTTLS": "maybe"}, "REGCASE_SMTP_STARTTLS"},
		{"ErrFromRequired", map[string]string{"REGCASE_SMTP_HOST": "smtp.example.gov"}, "REGCASE_SMTP_FROM"},
		{"ErrUserWithoutPassword", map[string]string{"REGCASE_SMTP_USERNAME": "u"}, "REGCASE_SMTP_USERNAME"},
		{"ErrPort", map[string]string{"REGCASE_SMTP_PORT": "0"}, "REGCASE_SMTP_PORT"},
		{"ErrBackoff", map[string]string{"REGCASE_SMTP_HOST": "h", "REGCASE_SMTP_FROM": "a@b", "REGCASE_SMTP_BACKOFF_BASE": "2h"}, "REGCASE_SMTP_BACKOFF_MAX"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Load(env(tc.env), "worker")
			var ce *Error
			if !errors.As(err, &ce) || ce.Var != tc.want {
				t.Errorf("Load = %v, want an error naming %s", err, tc.want)
			}
		})
	}
}

func toString(a any) string { return fmt.Sprint(a) }
