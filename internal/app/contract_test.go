package app_test

import (
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/regcase/regcase/internal/regcase"
)

// TestContract pins what a client sees at the edges of the API: a wrong
// method on a resource that exists, a refused transition, the /docs page's
// headers.
func TestContract(t *testing.T) {
	ts := startServer(t, "sqlite")

	t.Run("WrongMethodIs405WithAllow", func(t *testing.T) {
		for _, tc := range []struct{ method, path, allow string }{
			{http.MethodDelete, "/v1/reports", "GET, HEAD, POST"},
			{http.MethodPut, "/v1/cases", "GET, HEAD, POST"},
			{http.MethodPost, "/docs", "GET, HEAD"},
		} {
			r := ts.do(t, tc.method, tc.path, regcase.RoleSupervisor, nil)
			if r.Status != http.StatusMethodNotAllowed {
				t.Errorf("%s %s: got %s, want 405", tc.method, tc.path, r)
				continue
			}
			if got := r.Header.Get("Allow"); got != tc.allow {
				t.Errorf("%s %s: Allow = %q, want %q", tc.method, tc.path, got, tc.allow)
			}
			checkProblem(t, tc.method+" "+tc.path, r)
		}
	})
	t.Run("UnknownPathIs404", func(t *testing.T) {
		r := ts.must(t, http.StatusNotFound, http.MethodDelete, "/v1/no-such-thing", regcase.RoleSupervisor, nil)
		if r.Header.Get("Allow") != "" {
			t.Errorf("404 carries Allow %q", r.Header.Get("Allow"))
		}
		checkProblem(t, "unknown path", r)
	})
	t.Run("IllegalTransitionNamesTheAllowedOnes", func(t *testing.T) {
		c := ts.createCase(t, "Transition message")
		r := ts.must(t, http.StatusConflict, http.MethodPost, "/v1/cases/"+c.ID+"/transitions", regcase.RoleSupervisor,
			map[string]any{"to": "enforcement"}, "If-Match", c.ETag)
		p := checkProblem(t, "illegal transition", r)
		for _, want := range []string{"open to enforcement", "allowed from open: investigating, closed", "may take now: investigating, closed"} {
			if !strings.Contains(p.Detail, want) {
				t.Errorf("detail %q does not say %q", p.Detail, want)
			}
		}
	})
	t.Run("CategoriesAreTheConfiguredTaxonomy", func(t *testing.T) {
		var got struct {
			Categories []string `json:"categories"`
		}
		ts.must(t, http.StatusOK, http.MethodGet, "/v1/categories", regcase.RoleAnonymous, nil).JSON(t, &got)
		if want := regcase.DefaultCategories; !slices.Equal(got.Categories, want) {
			t.Errorf("categories = %v, want %v", got.Categories, want)
		}
		custom := startServer(t, "sqlite", "REGCASE_CATEGORIES=water,noise")
		custom.must(t, http.StatusOK, http.MethodGet, "/v1/categories", regcase.RoleAnonymous, nil).JSON(t, &got)
		if want := []string{"water", "noise"}; !slices.Equal(got.Categories, want) {
			t.Errorf("configured categories = %v, want %v", got.Categories, want)
		}
	})
	t.Run("DocsHasSecurityHeaders", func(t *testing.T) {
		r := ts.must(t, http.StatusOK, http.MethodGet, "/docs", regcase.RoleAnonymous, nil)
		csp := r.Header.Get("Content-Security-Policy")
		for _, want := range []string{"default-src 'none'", "frame-ancestors 'none'", "style-src 'sha256-"} {
			if !strings.Contains(csp, want) {
				t.Errorf("CSP %q lacks %q", csp, want)
			}
		}
		if strings.Contains(csp, "unsafe-inline") || strings.Contains(csp, "script-src") {
			t.Errorf("CSP %q admits inline style or scripts", csp)
		}
		if got := r.Header.Get("X-Content-Type-Options"); got != "nosniff" {
			t.Errorf("X-Content-Type-Options = %q", got)
		}
		if !strings.Contains(string(r.Body), "<style>body{") {
			t.Errorf("docs page lost its style block")
		}
	})
}
