package mail_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/regcase/regcase/internal/mail"
	"github.com/regcase/regcase/internal/mailpittest"
)

func sender(mp *mailpittest.Server, starttls string) *mail.Sender {
	return &mail.Sender{Config: mail.Config{Host: "127.0.0.1", Port: mp.SMTPPort, From: "regcase <regcase@cases.example.gov>",
		StartTLS: starttls, Timeout: 10 * time.Second}}
}

func TestSend(t *testing.T) {
	t.Run("OKPlain", func(t *testing.T) {
		mp := mailpittest.Start(t)
		s := sender(mp, mail.StartTLSOff)
		err := s.Send(t.Context(), mail.Message{To: "ivy@example.gov", Subject: "Case CASE-2026-000001 — ünïcode",
			Body: "line one\nline two = three\n", MessageID: "m1@regcase"})
		if err != nil {
			t.Fatalf("Send: %v", err)
		}
		ms := mp.Messages(t)
		if len(ms) != 1 {
			t.Fatalf("messages = %d, want 1", len(ms))
		}
		m := ms[0]
		if got := m.Recipients(); len(got) != 1 || got[0] != "ivy@example.gov" {
			t.Errorf("To = %v", got)
		}
		if m.Subject != "Case CASE-2026-000001 — ünïcode" || m.MessageID != "m1@regcase" || m.From.Address != "regcase@cases.example.gov" {
			t.Errorf("message = %+v", m)
		}
		if text := mp.Text(t, m.ID); !strings.Contains(text, "line two = three") {
			t.Errorf("body = %q", text)
		}
	})
	t.Run("OpportunisticWithoutTLSSends", func(t *testing.T) {
		mp := mailpittest.Start(t)
		if err := sender(mp, mail.StartTLSOpportunistic).Send(t.Context(), mail.Message{To: "a@example.gov", Subject: "s", Body: "b"}); err != nil {
			t.Fatalf("Send: %v", err)
		}
	})
	t.Run("ErrStartTLSRequiredNotOffered", func(t *testing.T) {
		mp := mailpittest.Start(t)
		err := sender(mp, mail.StartTLSRequired).Send(t.Context(), mail.Message{To: "a@example.gov", Subject: "s", Body: "b"})
		if err == nil || !strings.Contains(err.Error(), "STARTTLS") {
			t.Fatalf("Send = %v, want a STARTTLS refusal", err)
		}
		if n := len(mp.Messages(t)); n != 0 {
			t.Errorf("%d messages arrived without TLS", n)
		}
	})
	t.Run("OKStartTLSAndAuth", func(t *testing.T) {
		certFile, keyFile, pool := selfSigned(t)
		mp := mailpittest.Start(t, mailpittest.WithArgs("--smtp-tls-cert", certFile, "--smtp-tls-key", keyFile,
			"--smtp-require-starttls", "--smtp-auth-accept-any"))
		s := sender(mp, mail.StartTLSRequired)
		s.Config.Username, s.Config.Password = "regcase", "s3cret"
		s.Config.TLS = &tls.Config{RootCAs: pool, ServerName: "127.0.0.1", MinVersion: tls.VersionTLS12}
		if err := s.Send(t.Context(), mail.Message{To: "sam@example.gov", Subject: "over TLS", Body: "b"}); err != nil {
			t.Fatalf("Send: %v", err)
		}
		if ms := mp.Messages(t); len(ms) != 1 || ms[0].Subject != "over TLS" {
			t.Fatalf("messages = %+v", ms)
		}
	})
	t.Run("ErrServerDown", func(t *testing.T) {
		mp := mailpittest.Start(t)
		mp.Stop()
		if err := sender(mp, mail.StartTLSOff).Send(t.Context(), mail.Message{To: "a@example.gov", Subject: "s", Body: "b"}); err == nil {
			t.Fatal("Send to a stopped server succeeded")
		}
	})
	t.Run("ErrHeaderInjection", func(t *testing.T) {
		s := &mail.Sender{Config: mail.Config{Host: "127.0.0.1", Port: 1, From: "a@example.gov"}}
		if err := s.Send(t.Context(), mail.Message{To: "a@example.gov\r\nBcc: x@evil.example", Subject: "s"}); err == nil {
			t.Fatal("a recipient with a line break was accepted")
		}
	})
}

// selfSigned writes a certificate for 127.0.0.1 and its key, and returns
// a pool trusting it.
func selfSigned(tb testing.TB) (certFile, keyFile string, pool *x509.CertPool) {
	tb.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		tb.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "127.0.0.1"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, KeyUsage: x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		tb.Fatal(err)
	}
	kder, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		tb.Fatal(err)
	}
	dir := tb.TempDir()
	certFile, keyFile = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	if err := os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		tb.Fatal(err)
	}
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kder}), 0o600); err != nil {
		tb.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	pool = x509.NewCertPool()
	pool.AddCert(cert)
	return certFile, keyFile, pool
}
