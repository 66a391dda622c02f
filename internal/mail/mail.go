// Package mail sends e-mail over SMTP: STARTTLS required, opportunistic or
// off, optional PLAIN authentication (only over TLS or to loopback), a
// deadline on every exchange.
package mail

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"mime"
	"mime/quotedprintable"
	"net"
	"net/smtp"
	"strconv"
	"strings"
	"time"
)

// STARTTLS modes.
const (
	StartTLSRequired      = "required"
	StartTLSOpportunistic = "opportunistic"
	StartTLSOff           = "off"
)

// Config is where and how mail is sent.
type Config struct {
	Host     string
	Port     int
	Username string
	Password string // secret
	From     string
	StartTLS string // required | opportunistic | off
	Timeout  time.Duration
	// TLS overrides the TLS settings (tests); nil = verify against the
	// system roots with ServerName = Host.
	TLS *tls.Config
}

// Message is one plain-text e-mail.
type Message struct {
	To        string
	Subject   string
	Body      string
	MessageID string // without angle brackets; receivers dedupe by it
}

// Sender sends messages with Config.
type Sender struct {
	Config Config
	Now    func() time.Time
}

// Send delivers m to the configured server: an error means it may not have
// been accepted (the caller retries; Message-ID lets receivers dedupe).
func (s *Sender) Send(ctx context.Context, m Message) error {
	c := s.Config
	if strings.ContainsAny(m.To, "\r\n") || strings.ContainsAny(c.From, "\r\n") {
		return errors.New("mail: address with a line break")
	}
	timeout := c.Timeout
	if timeout <= 0 {
		timeout = 30 * time.Second
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	addr := net.JoinHostPort(c.Host, strconv.Itoa(c.Port))
	var d net.Dialer
	conn, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return fmt.Errorf("mail: connect %s: %w", addr, err)
	}
	dl, _ := ctx.Deadline()
	_ = conn.SetDeadline(dl)
	cl, err := smtp.NewClient(conn, c.Host)
	if err != nil {
		_ = conn.Close()
		return fmt.Errorf("mail: greeting from %s: %w", addr, err)
	}
	defer cl.Close()
	if err := cl.Hello(helloName()); err != nil {
		return fmt.Errorf("mail: EHLO: %w", err)
	}
	if c.StartTLS != StartTLSOff {
		if ok, _ := cl.Extension("STARTTLS"); ok {
			tc := c.TLS
			if tc == nil {
				tc = &tls.Config{ServerName: c.Host, MinVersion: tls.VersionTLS12}
			}
			if err := cl.StartTLS(tc); err != nil {
				return fmt.Errorf("mail: STARTTLS: %w", err)
			}
		} else if c.StartTLS == StartTLSRequired {
			return fmt.Errorf("mail: %s does not offer STARTTLS (REGCASE_SMTP_STARTTLS=required)", addr)
		}
	}
	if c.Username != "" {
		// smtp.PlainAuth refuses to send the password unencrypted except
		// to localhost.
		if err := cl.Auth(smtp.PlainAuth("", c.Username, c.Password, c.Host)); err != nil {
			return fmt.Errorf("mail: AUTH: %w", err)
		}
	}
	if err := cl.Mail(bareAddress(c.From)); err != nil {
		return fmt.Errorf("mail: MAIL FROM: %w", err)
	}
	if err := cl.Rcpt(m.To); err != nil {
		return fmt.Errorf("mail: RCPT TO: %w", err)
	}
	w, err := cl.Data()
	if err != nil {
		return fmt.Errorf("mail: DATA: %w", err)
	}
	if _, err := w.Write(s.render(m)); err != nil {
		return fmt.Errorf("mail: DATA: %w", err)
	}
	if err := w.Close(); err != nil {
		return fmt.Errorf("mail: message refused: %w", err)
	}
	_ = cl.Quit()
	return nil
}

// render is the RFC 5322 message: headers and a quoted-printable UTF-8 body.
func (s *Sender) render(m Message) []byte {
	now := time.Now
	if s.Now != nil {
		now = s.Now
	}
	var b bytes.Buffer
	h := func(k, v string) { fmt.Fprintf(&b, "%s: %s\r\n", k, v) }
	h("From", s.Config.From)
	h("To", m.To)
	h("Subject", mime.QEncoding.Encode("utf-8", m.Subject))
	h("Date", now().UTC().Format(time.RFC1123Z))
	if m.MessageID != "" {
		h("Message-ID", "<"+m.MessageID+">")
	}
	h("MIME-Version", "1.0")
	h("Content-Type", "text/plain; charset=utf-8")
	h("Content-Transfer-Encoding", "quoted-printable")
	h("Auto-Submitted", "auto-generated")
	b.WriteString("\r\n")
	qp := quotedprintable.NewWriter(&b)
	_, _ = qp.Write([]byte(strings.ReplaceAll(m.Body, "\n", "\r\n")))
	_ = qp.Close()
	return b.Bytes()
}

// bareAddress takes the address out of "Name <addr>".
func bareAddress(a string) string {
	if i, j := strings.LastIndexByte(a, '<'), strings.LastIndexByte(a, '>'); i >= 0 && j > i {
		return a[i+1 : j]
	}
	return strings.TrimSpace(a)
}

func helloName() string {
	return "regcase.localhost"
}
