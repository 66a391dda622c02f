package config

import (
	"log/slog"
	"strings"
	"time"
)

// SMTP configures e-mail notifications (sent by the worker). Host empty:
// no notifications are recorded or sent.
type SMTP struct {
	Host        string
	Port        int
	Username    string
	Password    string // secret
	From        string
	StartTLS    string // required | opportunistic | off
	Timeout     time.Duration
	MaxAttempts int
	BackoffBase time.Duration
	BackoffMax  time.Duration
}

// people reads the notification and statutory-deadline settings.
func (r *reader) people(c *Config) {
	s := &c.SMTP
	s.Host = r.str("REGCASE_SMTP_HOST", "")
	s.Port = r.integer("REGCASE_SMTP_PORT", 587, 1, 65535)
	s.Username = r.str("REGCASE_SMTP_USERNAME", "")
	s.Password = r.secret("REGCASE_SMTP_PASSWORD")
	s.From = r.str("REGCASE_SMTP_FROM", "")
	s.StartTLS = r.str("REGCASE_SMTP_STARTTLS", "required")
	switch s.StartTLS {
	case "required", "opportunistic", "off":
	default:
		r.fail("REGCASE_SMTP_STARTTLS", "%q is not required, opportunistic or off", s.StartTLS)
	}
	s.Timeout = r.duration("REGCASE_SMTP_TIMEOUT", 30*time.Second)
	s.MaxAttempts = r.integer("REGCASE_SMTP_MAX_ATTEMPTS", 10, 1, 100)
	s.BackoffBase = r.duration("REGCASE_SMTP_BACKOFF_BASE", 30*time.Second)
	s.BackoffMax = r.duration("REGCASE_SMTP_BACKOFF_MAX", time.Hour)
	if s.Host != "" {
		if strings.ContainsAny(s.From, "\r\n") || !strings.Contains(s.From, "@") {
			r.fail("REGCASE_SMTP_FROM", "required with REGCASE_SMTP_HOST: the sender address, e.g. regcase@cases.example.gov")
		}
		if s.Timeout <= 0 {
			r.fail("REGCASE_SMTP_TIMEOUT", "must be a positive duration")
		}
		if s.BackoffBase <= 0 || s.BackoffMax < s.BackoffBase {
			r.fail("REGCASE_SMTP_BACKOFF_MAX", "REGCASE_SMTP_BACKOFF_BASE must be positive and not longer than REGCASE_SMTP_BACKOFF_MAX")
		}
	}
	if (s.Username == "") != (s.Password == "") {
		r.fail("REGCASE_SMTP_USERNAME", "set REGCASE_SMTP_USERNAME and REGCASE_SMTP_PASSWORD together")
	}
	c.Deadlines = r.str("REGCASE_DEADLINES", "")
	c.DashboardMaxAge = r.duration("REGCASE_DASHBOARD_MAX_AGE", 30*time.Second)
}

// smtpAttrs describes the SMTP settings, password masked.
func (c *Config) smtpAttrs() slog.Attr {
	s := c.SMTP
	return slog.Group("smtp", slog.String("host", s.Host), slog.Int("port", s.Port), slog.String("from", s.From),
		slog.String("starttls", s.StartTLS), slog.String("username", s.Username), slog.Bool("password_set", s.Password != ""))
}
