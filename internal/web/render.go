package web

import (
	"bytes"
	"crypto/rand"
	"embed"
	"encoding/hex"
	"errors"
	"fmt"
	"html/template"
	"io/fs"
	"log/slog"
	"net/http"
	"path"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/regcase/regcase/internal/regcase"
	"github.com/regcase/regcase/internal/reqinfo"
)

//go:embed templates/*.html static/console.css
var files embed.FS

func mustReadStatic(name string) []byte {
	b, err := files.ReadFile(name)
	if err != nil {
		panic(err)
	}
	return b
}

// shared are parsed into every page: the layout and the form partials.
var shared = []string{"templates/layout.html", "templates/partials.html"}

func mustParsePages() map[string]*template.Template {
	names, err := fs.Glob(files, "templates/*.html")
	if err != nil {
		panic(err)
	}
	pages := map[string]*template.Template{}
	for _, n := range names {
		base := path.Base(n)
		if base == "layout.html" || base == "partials.html" {
			continue
		}
		t := template.New(base).Funcs(funcs)
		t = template.Must(t.ParseFS(files, append(append([]string{}, shared...), n)...))
		pages[base] = t
	}
	return pages
}

// base is what every page shows: title, navigation, who is signed in.
type base struct {
	Title     string
	Actor     *regcase.Actor
	CSRF      string
	Flash     string
	Nav       []navItem
	CSS       string
	RequestID string
	// MaxUpload is the evidence file limit, for the upload forms' hints.
	MaxUpload int64
}

func (b *base) view() *base { return b }

type viewer interface{ view() *base }

type navItem struct {
	Href, Label string
	Current     bool
}

// nav lists the pages the actor may open; nil actor: the public pages. The
// longest link the current path falls under is marked current.
func nav(a *regcase.Actor, current string) []navItem {
	var items []navItem
	add := func(href, label string) { items = append(items, navItem{Href: href, Label: label}) }
	if a == nil {
		add("/", "Home")
		add("/report", "Report a problem")
		add("/status", "Check a report")
		add("/console/login", "Officer sign-in")
	} else {
		if regcase.Can(a.Role, regcase.ActReportList) {
			add("/console/triage", "Triage")
		}
		if regcase.Can(a.Role, regcase.ActCaseList) {
			add("/console/cases", "Cases")
		}
		if regcase.Can(a.Role, regcase.ActDashboardRead) {
			add("/console/dashboard", "Dashboard")
		}
		if regcase.Can(a.Role, regcase.ActAuditRead) {
			add("/console/audit", "Audit log")
		}
		if regcase.Can(a.Role, regcase.ActAuditVerify) {
			add("/console/audit/verify", "Verify audit")
		}
		if regcase.Can(a.Role, regcase.ActTokenManage) {
			add("/console/tokens", "Tokens")
		}
		add("/console/notifications", "Notifications")
	}
	best := -1
	for i, it := range items {
		if (current == it.Href || strings.HasPrefix(current, strings.TrimSuffix(it.Href, "/")+"/")) &&
			(best < 0 || len(it.Href) > len(items[best].Href)) {
			best = i
		}
	}
	if best >= 0 {
		items[best].Current = true
	}
	return items
}

var bufPool = sync.Pool{New: func() any { return new(bytes.Buffer) }}

// render executes a page into a buffer (so a template error becomes a clean
// error page, never half a page) and writes it with status.
func (c *Console) render(w http.ResponseWriter, r *http.Request, status int, page string, v viewer) {
	b := v.view()
	b.CSS = c.cssURL
	b.RequestID = requestID(w, r)
	b.MaxUpload = c.svc.AttachmentMaxBytes()
	if b.Nav == nil {
		b.Nav = nav(b.Actor, r.URL.Path)
	}
	t, ok := c.pages[page]
	if !ok {
		c.internal(w, r, fmt.Errorf("no page template %q", page))
		return
	}
	buf := bufPool.Get().(*bytes.Buffer)
	buf.Reset()
	defer bufPool.Put(buf)
	if err := t.ExecuteTemplate(buf, "layout", v); err != nil {
		if page == "error.html" {
			http.Error(w, "internal error (request "+b.RequestID+")", http.StatusInternalServerError)
			return
		}
		c.internal(w, r, fmt.Errorf("render %s: %w", page, err))
		return
	}
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Content-Length", strconv.Itoa(buf.Len()))
	w.WriteHeader(status)
	_, _ = w.Write(buf.Bytes())
}

// securityHeaders are set on every page: no scripts at all, nothing from
// elsewhere, no framing, no caching of pages that may hold case data.
func securityHeaders(h http.Header) {
	h.Set("Content-Security-Policy", "default-src 'none'; style-src 'self'; img-src 'self' data:; form-action 'self'; frame-ancestors 'none'; base-uri 'none'")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("X-Frame-Options", "DENY")
	h.Set("Referrer-Policy", "same-origin")
	h.Set("Cache-Control", "no-store")
}

// requestID returns the id the API's middleware gave the request (in its
// reqinfo.Info), or makes one, and puts it on the response, when the
// console is served on its own.
func requestID(w http.ResponseWriter, r *http.Request) string {
	if i := reqinfo.From(r.Context()); i != nil && i.ID != "" {
		return i.ID
	}
	if id := w.Header().Get("X-Request-ID"); id != "" {
		return id
	}
	b := make([]byte, 12)
	_, _ = rand.Read(b)
	id := hex.EncodeToString(b)
	w.Header().Set("X-Request-ID", id)
	return id
}

// errorView is the page for 403, 404, 429, 500 and friends.
type errorView struct {
	base
	Status  int
	Heading string
	Message string
	Back    string
}

func (c *Console) errorPage(w http.ResponseWriter, r *http.Request, a *regcase.Actor, csrf string, status int, heading, msg string) {
	v := &errorView{base: base{Title: heading, Actor: a, CSRF: csrf}, Status: status, Heading: heading, Message: msg}
	if a != nil {
		v.Back = "/console/"
	} else {
		v.Back = "/"
	}
	c.render(w, r, status, "error.html", v)
}

// internal logs err once, with the request id, and shows a page that gives
// the id and nothing else.
func (c *Console) internal(w http.ResponseWriter, r *http.Request, err error) {
	id := requestID(w, r)
	c.log.ErrorContext(r.Context(), "web request failed", slog.String("request_id", id),
		slog.String("path", r.URL.Path), slog.Any("error", err))
	c.errorPage(w, r, nil, "", http.StatusInternalServerError, "Something went wrong",
		"The page could not be shown. If it happens again, give this reference to the platform team: "+id+".")
}

// fail shows the page that fits a domain error with no form to return to.
func (c *Console) fail(w http.ResponseWriter, r *http.Request, s *session, err error) {
	var a *regcase.Actor
	csrf := ""
	if s != nil {
		a, csrf = &s.actor, s.csrf
	}
	switch regcase.ErrorCodeOf(err) {
	case regcase.ENotFound:
		c.errorPage(w, r, a, csrf, http.StatusNotFound, "Not found", regcase.ErrorMessage(err))
	case regcase.EForbidden:
		c.forbidden(w, r, s)
	case regcase.EUnauthorized:
		http.Redirect(w, r, loginURL(r), http.StatusSeeOther)
	case regcase.EConflict:
		c.errorPage(w, r, a, csrf, http.StatusConflict, "That cannot be done now", regcase.ErrorMessage(err))
	case regcase.EInvalid:
		c.errorPage(w, r, a, csrf, http.StatusUnprocessableEntity, "That input was not accepted", regcase.ErrorMessage(err))
	case regcase.EUnavailable:
		c.errorPage(w, r, a, csrf, http.StatusServiceUnavailable, "Temporarily unavailable", "The service cannot answer right now. Try again in a minute.")
	default:
		c.internal(w, r, err)
	}
}

func (c *Console) forbidden(w http.ResponseWriter, r *http.Request, s *session) {
	var a *regcase.Actor
	csrf := ""
	if s != nil {
		a, csrf = &s.actor, s.csrf
	}
	msg := "This page is not available to your role."
	if a != nil {
		msg = fmt.Sprintf("This page is not available to the %s role.", a.Role)
	}
	c.errorPage(w, r, a, csrf, http.StatusForbidden, "Not allowed", msg)
}

func (c *Console) notFound(w http.ResponseWriter, r *http.Request, s *session) {
	c.errorPage(w, r, &s.actor, s.csrf, http.StatusNotFound, "Not found", "There is no page at this address.")
}

// formError returns the domain error's field and message when it is one a
// person can fix in a form.
func formError(err error) (field, msg string, ok bool) {
	var e *regcase.Error
	if !errors.As(err, &e) {
		return "", "", false
	}
	switch e.Code {
	case regcase.EInvalid, regcase.EIdempotencyMismatch, regcase.EConflict:
		return e.Field, e.Message, true
	}
	return "", "", false
}

// Template helpers.
var funcs = template.FuncMap{
	"field":      newField,
	"options":    withOptions,
	"label":      humanize,
	"datetime":   func(t time.Time) string { return t.UTC().Format("2006-01-02 15:04 UTC") },
	"date":       func(t time.Time) string { return t.UTC().Format("2 Jan 2006") },
	"isotime":    func(t time.Time) string { return t.UTC().Format(time.RFC3339) },
	"amount":     formatAmount,
	"add":        func(a, b int) int { return a + b },
	"transLabel": transitionLabel,
	"excerpt":    excerpt,
	"bytes":      formatBytes,
	"hex":        func(b []byte) string { return hex.EncodeToString(b) },
}

// formatBytes shows a size in B, KiB or MiB.
func formatBytes(n int64) string {
	switch {
	case n >= 1<<20:
		return strconv.FormatFloat(float64(n)/(1<<20), 'f', 1, 64) + " MiB"
	case n >= 1<<10:
		return strconv.FormatFloat(float64(n)/(1<<10), 'f', 1, 64) + " KiB"
	}
	return strconv.FormatInt(n, 10) + " B"
}

// humanize turns an identifier like pending_decision into "Pending decision".
func humanize(s string) string {
	if s == "" {
		return ""
	}
	s = strings.ReplaceAll(s, "_", " ")
	return strings.ToUpper(s[:1]) + s[1:]
}

func excerpt(s string, n int) string {
	s = strings.Join(strings.Fields(s), " ")
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	return string(r[:n-1]) + "…"
}

// formatAmount shows minor units as a decimal amount with two places.
func formatAmount(minor int64) string {
	sign := ""
	if minor < 0 {
		sign, minor = "-", -minor
	}
	whole := strconv.FormatInt(minor/100, 10)
	var b strings.Builder
	for i, d := range whole {
		if i > 0 && (len(whole)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(d)
	}
	return fmt.Sprintf("%s%s.%02d", sign, b.String(), minor%100)
}

// transitionLabel names a transition as an officer would say it.
func transitionLabel(from, to string) string {
	switch {
	case to == "investigating" && from == "open":
		return "Start investigation"
	case to == "investigating" && from == "closed":
		return "Reopen case"
	case to == "investigating":
		return "Send back to investigation"
	case to == "pending_decision":
		return "Propose action"
	case to == "enforcement" && from == "appealed":
		return "Reject appeal"
	case to == "enforcement":
		return "Approve action"
	case to == "appealed":
		return "Record appeal"
	case to == "closed":
		return "Close case"
	}
	return "Move to " + strings.ToLower(humanize(to))
}
