package webhook

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"testing"
	"time"

	"github.com/cloudevents/sdk-go/v2/binding"
	"github.com/cloudevents/sdk-go/v2/event"
	cehttp "github.com/cloudevents/sdk-go/v2/protocol/http"

	"github.com/regcase/regcase/internal/regcase"
)

// TestSend_CloudEventsSDKParses has the CloudEvents Go SDK read a delivery
// of (*regcase.Event).CloudEvent() as a receiver would.
func TestSend_CloudEventsSDKParses(t *testing.T) {
	paris := time.FixedZone("CET", 3600)
	for _, tc := range []struct {
		name string
		ev   regcase.Event
	}{
		{"OK", regcase.Event{
			ID: "0192f0c4-7b1e-7c3a-9d2e-4f5a6b7c8d9e", Type: "gov.regcase.case.transitioned", Source: "/regcase",
			Subject: "cases/c_42", Time: time.Date(2026, 3, 4, 5, 6, 7, 123456789, paris),
			Data:      json.RawMessage(`{"case_id":"c_42","from":"triage","to":"investigation","note":"ünïcode ✓"}`),
			RequestID: "req-7", PartitionKey: "c_42",
		}},
		{"OKNoDataNoExtensions", regcase.Event{
			ID: "evt_2", Type: "gov.regcase.sla.breached", Source: "/regcase", Time: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC),
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			body, err := tc.ev.CloudEvent()
			if err != nil {
				t.Fatal(err)
			}
			type received struct {
				body     []byte
				encoding binding.Encoding
				err      error
				ce       *event.Event
			}
			got := make(chan received, 1)
			srv := newCounted(t, func(w http.ResponseWriter, r *http.Request) {
				raw, _ := io.ReadAll(r.Body)
				r.Body = io.NopCloser(bytes.NewReader(raw))
				msg := cehttp.NewMessageFromHttpRequest(r)
				enc := msg.ReadEncoding()
				ev, err := cehttp.NewEventFromHTTPRequest(r)
				got <- received{raw, enc, err, ev}
				w.WriteHeader(http.StatusAccepted)
			})
			_, key := newKey(t)
			res := sender(t, 5*time.Second).Send(t.Context(), srv.URL, key, tc.ev.ID, body)
			if !res.OK() || res.StatusCode != http.StatusAccepted {
				t.Fatalf("Send = %+v", res)
			}
			r := <-got
			if r.err != nil {
				t.Fatalf("NewEventFromHTTPRequest: %v", r.err)
			}
			if r.encoding != binding.EncodingStructured {
				t.Errorf("encoding = %v, want structured", r.encoding)
			}
			if err := r.ce.Validate(); err != nil {
				t.Errorf("SDK Validate: %v", err)
			}
			ce, want := r.ce, tc.ev
			for _, c := range []struct{ what, got, want string }{
				{"specversion", ce.SpecVersion(), "1.0"},
				{"id", ce.ID(), want.ID},
				{"type", ce.Type(), want.Type},
				{"source", ce.Source(), want.Source},
				{"subject", ce.Subject(), want.Subject},
				{"datacontenttype", ce.DataContentType(), "application/json"},
			} {
				if c.got != c.want {
					t.Errorf("%s = %q, want %q", c.what, c.got, c.want)
				}
			}
			if !ce.Time().Equal(want.Time) {
				t.Errorf("time = %v, want %v", ce.Time(), want.Time)
			}
			if want.Data == nil {
				if len(ce.Data()) != 0 {
					t.Errorf("data = %s, want none", ce.Data())
				}
			} else {
				var gotData, wantData any
				if err := ce.DataAs(&gotData); err != nil {
					t.Fatalf("DataAs: %v", err)
				}
				_ = json.Unmarshal(want.Data, &wantData)
				if g, w := mustJSON(t, gotData), mustJSON(t, wantData); g != w {
					t.Errorf("data = %s, want %s", g, w)
				}
			}
			ext := ce.Extensions()
			for name, want := range map[string]string{"requestid": want.RequestID, "partitionkey": want.PartitionKey} {
				v, present := ext[name]
				switch {
				case want == "" && present:
					t.Errorf("extension %s = %v, want absent", name, v)
				case want != "" && v != want:
					t.Errorf("extension %s = %v, want %q", name, v, want)
				}
			}

			back, err := regcase.ParseCloudEvent(r.body)
			if err != nil {
				t.Fatalf("ParseCloudEvent: %v", err)
			}
			if !back.Time.Equal(want.Time) {
				t.Errorf("ParseCloudEvent time = %v, want %v", back.Time, want.Time)
			}
			back.Time, want.Time = time.Time{}, time.Time{}
			if g, w := mustJSON(t, back), mustJSON(t, want); g != w {
				t.Errorf("ParseCloudEvent = %s, want %s", g, w)
			}
		})
	}
}

func mustJSON(tb testing.TB, v any) string {
	tb.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		tb.Fatal(err)
	}
	return string(b)
}
