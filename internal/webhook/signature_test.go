package webhook

import (
	"bytes"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"testing/iotest"
	"time"

	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"

	"github.com/regcase/regcase/internal/regcase"
)

func TestSign(t *testing.T) {
	t.Run("OK", func(t *testing.T) {
		// The example of the Standard Webhooks specification.
		key, err := ParseSecret("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")
		if err != nil {
			t.Fatal(err)
		}
		got := Sign(key, "msg_p5jXN8AQM9LWM0D4loKWxJek", time.Unix(1614265330, 0), []byte(`{"test": 2432232314}`))
		if want := "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="; got != want {
			t.Errorf("Sign = %q, want %q", got, want)
		}
	})
	t.Run("MatchesLibrary", func(t *testing.T) {
		for i := range 50 {
			_, key := newKey(t)
			body := make([]byte, i*37)
			rand.Read(body)
			id := fmt.Sprintf("msg_%d", i)
			ts := time.Unix(1_700_000_000+int64(i)*7919, int64(i)*1000)
			wh, _ := standardwebhooks.NewWebhookRaw(key)
			want, _ := wh.Sign(id, ts, body)
			if got := Sign(key, id, ts, body); got != want {
				t.Fatalf("Sign = %q, library signs %q", got, want)
			}
		}
	})
	t.Run("DependsOnEveryInput", func(t *testing.T) {
		_, key := newKey(t)
		_, other := newKey(t)
		ts := time.Unix(1_700_000_000, 0)
		base := Sign(key, "msg_1", ts, []byte("{}"))
		for name, sig := range map[string]string{
			"key":  Sign(other, "msg_1", ts, []byte("{}")),
			"id":   Sign(key, "msg_2", ts, []byte("{}")),
			"ts":   Sign(key, "msg_1", ts.Add(time.Second), []byte("{}")),
			"body": Sign(key, "msg_1", ts, []byte("{ }")),
		} {
			if sig == base {
				t.Errorf("changing the %s does not change the signature", name)
			}
		}
		if sub := Sign(key, "msg_1", ts.Add(999*time.Millisecond), []byte("{}")); sub != base {
			t.Errorf("sub-second part of the timestamp changes the signature")
		}
	})
}

func TestNewSecret(t *testing.T) {
	t.Run("OK", func(t *testing.T) {
		r := bytes.NewReader(bytes.Repeat([]byte{0xff}, 40))
		got, err := NewSecret(r)
		if err != nil {
			t.Fatal(err)
		}
		if want := "whsec_" + strings.Repeat("/", 42) + "8="; got != want {
			t.Errorf("NewSecret = %q, want %q", got, want)
		}
		if r.Len() != 40-SecretSize {
			t.Errorf("NewSecret read %d bytes, want %d", 40-r.Len(), SecretSize)
		}
	})
	t.Run("Random", func(t *testing.T) {
		a, ka := newKey(t)
		b, _ := newKey(t)
		if a == b {
			t.Errorf("two secrets are equal: %q", a)
		}
		if len(ka) != 32 {
			t.Errorf("key is %d bytes, want 32", len(ka))
		}
	})
	t.Run("ErrShortReader", func(t *testing.T) {
		if _, err := NewSecret(bytes.NewReader(make([]byte, 31))); !errors.Is(err, io.ErrUnexpectedEOF) {
			t.Errorf("NewSecret(31 bytes) error = %v, want ErrUnexpectedEOF", err)
		}
		boom := errors.New("boom")
		if _, err := NewSecret(iotest.ErrReader(boom)); !errors.Is(err, boom) {
			t.Errorf("NewSecret(failing reader) error = %v, want %v", err, boom)
		}
	})
}

func TestParseSecret(t *testing.T) {
	secretOf := func(n int) string {
		return "whsec_" + base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{0xfb}, n))
	}
	for _, tc := range []struct {
		name, secret string
		wantLen      int // 0: want an error
	}{
		{"OK", secretOf(32), 32},
		{"OKSpecExample", "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", 24},
		{"OKShortest", secretOf(24), 24},
		{"OKLongest", secretOf(64), 64},
		{"ErrNoPrefix", strings.TrimPrefix(secretOf(32), "whsec_"), 0},
		{"ErrWrongPrefix", "whsek_" + strings.TrimPrefix(secretOf(32), "whsec_"), 0},
		{"ErrEmpty", "", 0},
		{"ErrOnlyPrefix", "whsec_", 0},
		{"ErrNotBase64", secretOf(32)[:20] + "!" + secretOf(32)[21:], 0},
		{"ErrURLBase64", "whsec_" + base64.URLEncoding.EncodeToString(bytes.Repeat([]byte{0xfb}, 32)), 0},
		{"ErrUnpadded", "whsec_" + base64.RawStdEncoding.EncodeToString(bytes.Repeat([]byte{0xfb}, 32)), 0},
		{"ErrTooShort", secretOf(23), 0},
		{"ErrTooLong", secretOf(65), 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			key, err := ParseSecret(tc.secret)
			if tc.wantLen == 0 {
				var e *regcase.Error
				if !errors.As(err, &e) || e.Code != regcase.EInvalid || e.Field != "secret" {
					t.Fatalf("ParseSecret(%q) = %v, want EInvalid on field secret", tc.secret, err)
				}
				if rest := strings.TrimPrefix(tc.secret, "whsec_"); len(rest) > 4 && strings.Contains(err.Error(), rest) {
					t.Errorf("error %q repeats the secret", err)
				}
				return
			}
			if err != nil || len(key) != tc.wantLen {
				t.Fatalf("ParseSecret(%q) = %d bytes, %v; want %d bytes", tc.secret, len(key), err, tc.wantLen)
			}
			if !bytes.Equal(key, bytes.Repeat([]byte{0xfb}, tc.wantLen)) && tc.name != "OKSpecExample" {
				t.Errorf("ParseSecret(%q) = %x, want the encoded bytes", tc.secret, key)
			}
		})
	}
}

// TestSend_StandardWebhooksVerifies has the reference library verify what
// Send sends, as a receiver would.
func TestSend_StandardWebhooksVerifies(t *testing.T) {
	secret, key := newKey(t)
	wh, err := standardwebhooks.NewWebhook(secret)
	if err != nil {
		t.Fatal(err)
	}
	type received struct {
		body    []byte
		headers http.Header
		err     error
	}
	got := make(chan received, 1)
	srv := newCounted(t, func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		err := wh.Verify(body, r.Header)
		got <- received{body, r.Header.Clone(), err}
		if err != nil {
			http.Error(w, "bad signature", http.StatusUnauthorized)
		}
	})
	s := sender(t, 5*time.Second)
	body := []byte(`{"specversion":"1.0","id":"evt_1","source":"/regcase","type":"gov.regcase.case.opened","time":"2026-01-02T03:04:05Z","datacontenttype":"application/json","data":{"n":1}}`)

	res := s.Send(t.Context(), srv.URL+"/hook", key, "evt_1", body)
	r := <-got
	if !res.OK() || r.err != nil {
		t.Fatalf("Send = %+v; library Verify: %v", res, r.err)
	}

	t.Run("ErrTamperedBody", func(t *testing.T) {
		tampered := bytes.Replace(r.body, []byte(`"n":1`), []byte(`"n":2`), 1)
		if err := wh.Verify(tampered, r.headers); !errors.Is(err, standardwebhooks.ErrNoMatchingSignature) {
			t.Errorf("Verify(tampered body) = %v, want ErrNoMatchingSignature", err)
		}
	})
	t.Run("ErrTamperedTimestamp", func(t *testing.T) {
		h := r.headers.Clone()
		ts, _ := strconv.ParseInt(h.Get(HeaderTimestamp), 10, 64)
		h.Set(HeaderTimestamp, strconv.FormatInt(ts+1, 10))
		if err := wh.Verify(r.body, h); !errors.Is(err, standardwebhooks.ErrNoMatchingSignature) {
			t.Errorf("Verify(tampered timestamp) = %v, want ErrNoMatchingSignature", err)
		}
	})
	t.Run("ErrTamperedID", func(t *testing.T) {
		h := r.headers.Clone()
		h.Set(HeaderID, "evt_2")
		if err := wh.Verify(r.body, h); !errors.Is(err, standardwebhooks.ErrNoMatchingSignature) {
			t.Errorf("Verify(tampered id) = %v, want ErrNoMatchingSignature", err)
		}
	})
	t.Run("ErrOtherSecret", func(t *testing.T) {
		other, _ := newKey(t)
		wh2, _ := standardwebhooks.NewWebhook(other)
		if err := wh2.Verify(r.body, r.headers); !errors.Is(err, standardwebhooks.ErrNoMatchingSignature) {
			t.Errorf("Verify(other secret) = %v, want ErrNoMatchingSignature", err)
		}
	})
	t.Run("ErrStaleTimestamp", func(t *testing.T) {
		stale := &Sender{Client: s.Client, Now: func() time.Time { return time.Now().Add(-10 * time.Minute) }}
		res := stale.Send(t.Context(), srv.URL, key, "evt_1", body)
		r := <-got
		if !errors.Is(r.err, standardwebhooks.ErrMessageTooOld) {
			t.Errorf("library Verify = %v, want ErrMessageTooOld", r.err)
		}
		if res.OK() || res.StatusCode != http.StatusUnauthorized || res.Err.Error() != "HTTP 401" {
			t.Errorf("Send = %+v, want a failed attempt with HTTP 401", res)
		}
	})
}
