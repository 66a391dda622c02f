package e2e

import (
	"bytes"
	"encoding/json"
	"net/http"
	"testing"
	"time"

	"github.com/cloudevents/sdk-go/v2/event"
	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"
)

// TestSignaturesAndCloudEvents: a subscription to every event type gets
// reports, cases and notes events; the receiver accepts each with the
// Standard Webhooks Go library and the CloudEvents Go SDK (as every
// receiver of these tests does). The controls show the check can fail: the
// same library rejects the request with one byte of its body changed, or
// with another secret.
func TestSignaturesAndCloudEvents(t *testing.T) {
	needBinary(t)
	t.Parallel()
	s := newSQLiteStack(t, nil)
	rcv := newReceiver(t, "all-types")
	all := s.start("all", "all", nil)
	s.mintTokens()
	hook := s.subscribe(all, rcv) // no filter: every event

	s.intake(all.URL, 2, 1)
	var c struct {
		ID string `json:"id"`
	}
	s.must(http.StatusCreated, all.URL, http.MethodPost, "/v1/cases", "supervisor", map[string]any{
		"title": "e2e signatures", "subject": map[string]any{"name": "Acme Foods Ltd"}, "category": "food_safety", "priority": "high",
	}).decode(t, &c)
	s.must(http.StatusCreated, all.URL, http.MethodPost, "/v1/cases/"+c.ID+"/notes", "supervisor", map[string]any{"body": "a note"})

	wantTypes := []string{ReportReceived, "gov.regcase.case.opened", "gov.regcase.case.note_added"}
	waitFor(t, 30*time.Second, "report, case and note events at the receiver", func() bool {
		types := rcv.Types()
		for _, want := range wantTypes {
			if types[want] == 0 {
				return rcv.Rejected() > 0
			}
		}
		return true
	})
	var ds []deliveryJSON
	waitFor(t, 30*time.Second, "every delivery of the subscription delivered", func() bool {
		ds = s.deliveries(all, hook, "")
		for _, d := range ds {
			if d.Status != "delivered" {
				return false
			}
		}
		return true
	})
	rcv.WaitAcked(len(ds), 10*time.Second)
	for _, want := range wantTypes {
		if rcv.Types()[want] == 0 {
			t.Errorf("no %s event reached the receiver; types received: %v", want, rcv.Types())
		}
	}
	if rcv.Rejected() != 0 {
		t.Fatalf("the receiver rejected %d requests", rcv.Rejected())
	}

	smp := rcv.Sample()
	wh, err := standardwebhooks.NewWebhook(s.secretOf(t, rcv))
	if err != nil {
		t.Fatal(err)
	}
	if err := wh.Verify(smp.Body, smp.Header); err != nil {
		t.Fatalf("control: the recorded request does not verify: %v", err)
	}
	tampered := bytes.Clone(smp.Body)
	tampered[len(tampered)/2] ^= 0x01
	if err := wh.Verify(tampered, smp.Header); err == nil {
		t.Error("control: a body with one changed byte still verifies: the check is vacuous")
	}
	other, _ := standardwebhooks.NewWebhook("whsec_" + randomKey(t))
	if err := other.Verify(smp.Body, smp.Header); err == nil {
		t.Error("control: the request verifies with another secret: the check is vacuous")
	}
	var ev event.Event
	if err := json.Unmarshal(smp.Body, &ev); err != nil {
		t.Fatalf("CloudEvents SDK: %v", err)
	}
	var data map[string]any
	if ev.DataContentType() != "application/json" || json.Unmarshal(ev.Data(), &data) != nil {
		t.Errorf("CloudEvent datacontenttype %q data %s: want JSON data", ev.DataContentType(), ev.Data())
	}
	n := rcv.Counts()
	t.Logf("FIGURES signatures: %d deliveries of %d types verified by standard-webhooks and parsed by the CloudEvents SDK (%v), 0 rejected",
		n.Unique, len(rcv.Types()), rcv.Types())
}

// secretOf returns the secret the receiver verifies with.
func (s *stack) secretOf(t *testing.T, r *receiver) string {
	t.Helper()
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.secret == "" {
		t.Fatal("receiver has no secret")
	}
	return r.secret
}
