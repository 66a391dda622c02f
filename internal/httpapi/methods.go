package httpapi

import (
	"net/http"
	"strings"

	"github.com/regcase/regcase/internal/regcase"
)

// probeMethods are the methods a resource can be served with.
var probeMethods = []string{http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete}

// notFoundOrMethod is the catch-all route. The mux's own 405 never fires
// because this route matches every method, so it asks the mux which methods
// the path has: none → 404, some → 405 with Allow naming them (RFC 9110
// section 15.5.6), both as problem+json.
func notFoundOrMethod(mux *http.ServeMux) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if allow := allowedMethods(mux, r); len(allow) > 0 {
			w.Header().Set("Allow", strings.Join(allow, ", "))
			writeProblem(w, http.StatusMethodNotAllowed, "method_not_allowed",
				r.Method+" is not allowed on "+r.URL.Path+"; allowed: "+strings.Join(allow, ", "))
			return
		}
		writeProblem(w, http.StatusNotFound, string(regcase.ENotFound), "no such resource: "+r.URL.Path)
	}
}

// allowedMethods lists the methods that reach a route other than the
// catch-all for r's path.
func allowedMethods(mux *http.ServeMux, r *http.Request) []string {
	var allow []string
	for _, m := range probeMethods {
		if m == r.Method {
			continue
		}
		probe := r.Clone(r.Context())
		probe.Method = m
		if _, pattern := mux.Handler(probe); pattern != "" && pattern != "/" {
			allow = append(allow, m)
		}
	}
	return allow
}
