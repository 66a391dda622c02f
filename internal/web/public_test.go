package web_test

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/regcase/regcase/internal/regcase"
)

// reportForm returns the report form as a fresh visitor gets it, filled in
// with a valid report.
func reportForm(t *testing.T, c *client) url.Values {
	t.Helper()
	r := must(t, c.get("/report"), http.StatusOK)
	f := forms(r.body)[0]
	if f.fields["idem"] == "" || f.fields["csrf"] == "" {
		t.Fatalf("the form has no idempotency key or CSRF token: %v", f.fields)
	}
	if got := f.options["category"]; len(got) != len(regcase.DefaultCategories)+1 {
		t.Errorf("category options %v, want the taxonomy", got)
	}
	return url.Values{"csrf": {f.fields["csrf"]}, "idem": {f.fields["idem"]}, "category": {"food_safety"},
		"subject_name": {"Greasy Spoon Ltd"}, "subject_registry_id": {"GB-999"},
		"description": {"Cockroaches under the counter."}, "location": {"2 Market Square"}, "occurred": {"2026-01-15"}}
}

func TestReportSubmission(t *testing.T) {
	e := newEnv(t)

	t.Run("OK", func(t *testing.T) {
		c := e.anon(t)
		form := reportForm(t, c)
		form.Set("reporter_email", "ann@example.org")
		form.Set("consent", "yes")
		r := must(t, c.post("/report", form), http.StatusOK)
		code, secret := textOf(r.body, "tracking-code"), textOf(r.body, "status-secret")
		if code == "" || secret == "" {
			t.Fatalf("no tracking code or secret on the confirmation:\n%s", excerpt(r.body))
		}
		if got := r.header.Get("Cache-Control"); got != "no-store" {
			t.Errorf("the confirmation with the status secret: Cache-Control %q, want no-store", got)
		}
		for _, p := range a11yProblems(r.body) {
			t.Errorf("accessibility: %s", p)
		}
		rep, err := e.store.GetReportByTracking(context.Background(), code)
		if err != nil {
			t.Fatal(err)
		}
		if rep.Channel != regcase.ChannelWeb || rep.Subject.RegistryID != "GB-999" || !rep.HasReporter || rep.OccurredAt == nil {
			t.Errorf("stored report %+v", rep)
		}

		// The public status, with the code and the secret.
		st := must(t, c.get("/status?code="+code), http.StatusOK)
		sf := forms(st.body)[0]
		if sf.fields["tracking"] != code {
			t.Errorf("status form not prefilled with the code")
		}
		r = must(t, c.post("/status", url.Values{"csrf": {sf.fields["csrf"]}, "tracking": {strings.ToLower(code)}, "secret": {secret}}), http.StatusOK)
		if got := textOf(r.body, "public-status"); got != "Received" {
			t.Errorf("public status %q, want Received", got)
		}
		if got := r.header.Get("Cache-Control"); got != "no-store" {
			t.Errorf("the public status page: Cache-Control %q, want no-store", got)
		}
		for _, p := range a11yProblems(r.body) {
			t.Errorf("accessibility: %s", p)
		}
		r = must(t, c.post("/status", url.Values{"csrf": {sf.fields["csrf"]}, "tracking": {code}, "secret": {"wrong"}}), http.StatusNotFound)
		if !strings.Contains(r.body, "No report matches") || formByID(r.body, "") == nil {
			t.Errorf("no not-found message")
		}
		if f := forms(r.body)[0]; f.fields["tracking"] != code || f.fields["secret"] != "wrong" {
			t.Errorf("typed values lost: %v", f.fields)
		}
		r = must(t, c.post("/status", url.Values{"csrf": {sf.fields["csrf"]}, "tracking": {"nope"}, "secret": {""}}), http.StatusUnprocessableEntity)
		if !strings.Contains(r.body, "12 letters and digits") || !strings.Contains(r.body, "Enter the status secret") {
			t.Errorf("no field messages")
		}
	})

	t.Run("DoubleSubmitIsOneReport", func(t *testing.T) {
		c := e.anon(t)
		form := reportForm(t, c)
		first := must(t, c.post("/report", form), http.StatusOK)
		again := must(t, c.post("/report", form), http.StatusOK)
		if a, b := textOf(first.body, "tracking-code"), textOf(again.body, "tracking-code"); a != b || a == "" {
			t.Errorf("a resubmission made another report: %q then %q", a, b)
		}
		if textOf(first.body, "status-secret") != textOf(again.body, "status-secret") {
			t.Errorf("the replay shows another secret")
		}
		if !strings.Contains(again.body, "same report") {
			t.Errorf("the replay does not say it is the same report")
		}
		// Same key, other content: a clear message, the input, a new key.
		form.Set("description", "Something else entirely.")
		r := must(t, c.post("/report", form), http.StatusUnprocessableEntity)
		f := forms(r.body)[0]
		if !strings.Contains(r.body, "already sent with different content") || f.fields["description"] != "Something else entirely." {
			t.Errorf("mismatch not explained or input lost")
		}
		if f.fields["idem"] == "" || f.fields["idem"] == form.Get("idem") {
			t.Errorf("the form keeps the used idempotency key")
		}
	})

	t.Run("Invalid", func(t *testing.T) {
		c := e.anon(t)
		base := reportForm(t, c)
		cases := []struct {
			name   string
			change url.Values
			fields []string // controls with a message
		}{
			{"MissingRequired", url.Values{"category": {""}, "subject_name": {" "}, "description": {""}}, []string{"category", "subject_name", "description"}},
			{"ContactWithoutConsent", url.Values{"reporter_name": {"Ann"}, "reporter_phone": {"+1 555"}}, []string{"consent"}},
			{"BadEmail", url.Values{"reporter_email": {"not-an-address"}, "consent": {"yes"}}, []string{"reporter_email"}},
			{"BadDate", url.Values{"occurred": {"15/01/2026"}}, []string{"occurred"}},
			{"FutureDate", url.Values{"occurred": {time.Now().AddDate(0, 1, 0).Format("2006-01-02")}}, []string{"occurred"}},
			{"UnknownCategory", url.Values{"category": {"astrology"}}, []string{"category"}},
			{"TooLong", url.Values{"location": {strings.Repeat("x", 501)}}, []string{"location"}},
		}
		for _, tc := range cases {
			t.Run(tc.name, func(t *testing.T) {
				form := url.Values{}
				for k, v := range base {
					form[k] = v
				}
				for k, v := range tc.change {
					form[k] = v
				}
				r := must(t, c.post("/report", form), http.StatusUnprocessableEntity)
				for _, f := range tc.fields {
					if !strings.Contains(r.body, `id="`+strings.ReplaceAll(f, "_", "-")+`-error"`) {
						t.Errorf("no message by %s", f)
					}
				}
				got := forms(r.body)[0].fields
				for k, v := range form {
					if k == "csrf" || (tc.name == "UnknownCategory" && k == "category") {
						continue // a select cannot show a value it does not offer
					}
					if got[k] != v[0] && !(k == "subject_name" && strings.TrimSpace(v[0]) == "") {
						t.Errorf("%s = %q after the error, typed %q", k, got[k], v[0])
					}
				}
				if !strings.Contains(r.body, "There is a problem") {
					t.Errorf("no error summary")
				}
				for _, p := range a11yProblems(r.body) {
					t.Errorf("accessibility: %s", p)
				}
			})
		}
	})

	t.Run("CSRF", func(t *testing.T) {
		c := e.anon(t)
		form := reportForm(t, c)
		for name, token := range map[string]string{"Missing": "", "Wrong": "AAAA" + form.Get("csrf")[4:]} {
			t.Run(name, func(t *testing.T) {
				f := url.Values{}
				for k, v := range form {
					f[k] = v
				}
				f.Set("csrf", token)
				r := must(t, c.rawPost("/report", f), http.StatusForbidden)
				if got := forms(r.body)[0].fields["description"]; got != form.Get("description") {
					t.Errorf("typed description lost: %q", got)
				}
			})
		}
		// No CSRF cookie at all (another site's page posting here).
		other := e.anon(t)
		must(t, other.rawPost("/report", form), http.StatusForbidden)
		must(t, other.rawPost("/status", url.Values{"csrf": {form.Get("csrf")}, "tracking": {"x"}}), http.StatusForbidden)
		// A cross-site request is refused by the origin check too.
		req := newPost("/report", form)
		req.Header.Set("Sec-Fetch-Site", "cross-site")
		if r := c.do(req); r.status != http.StatusForbidden {
			t.Errorf("cross-site POST: got %d, want 403", r.status)
		}
	})
}

func TestReportRateLimit(t *testing.T) {
	e := newEnv(t, envOpts{intakeRate: 0.001, intakeBurst: 2})
	c := e.anon(t)
	for i := 0; i < 2; i++ {
		must(t, c.post("/report", reportForm(t, c)), http.StatusOK)
	}
	form := reportForm(t, c)
	r := must(t, c.post("/report", form), http.StatusTooManyRequests)
	if r.header.Get("Retry-After") == "" {
		t.Errorf("no Retry-After")
	}
	if got := forms(r.body)[0].fields["description"]; got != form.Get("description") {
		t.Errorf("typed description lost on 429")
	}
	if !strings.Contains(r.body, "Too many reports") {
		t.Errorf("no explanation on the 429 page")
	}
	// Another address is not affected.
	d := e.anon(t)
	must(t, d.post("/report", reportForm(t, d)), http.StatusOK)
}

func newPost(path string, form url.Values) *http.Request {
	req, _ := http.NewRequest(http.MethodPost, path, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	return req
}
