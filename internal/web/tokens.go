package web

import (
	"net/http"
	"net/url"
	"strings"

	"github.com/regcase/regcase/internal/regcase"
)

type tokensView struct {
	base
	Tokens  []*regcase.APIToken
	Form    *form
	Roles   []string
	Created *regcase.APIToken
	Secret  string
}

func (c *Console) tokensView(w http.ResponseWriter, r *http.Request, s *session, f *form) (*tokensView, bool) {
	ts, err := c.svc.ListTokens(r.Context(), s.actor)
	if err != nil {
		c.fail(w, r, s, err)
		return nil, false
	}
	roles := []string{"|Choose a role"}
	for _, ro := range regcase.StaffRoles {
		roles = append(roles, string(ro))
	}
	return &tokensView{base: officerBase(s, "API tokens"), Tokens: ts, Form: f, Roles: roles}, true
}

func (c *Console) tokens(w http.ResponseWriter, r *http.Request, s *session) {
	if !c.allowed(w, r, s, regcase.ActTokenManage) {
		return
	}
	if v, ok := c.tokensView(w, r, s, newForm(nil)); ok {
		c.render(w, r, http.StatusOK, "tokens.html", v)
	}
}

// createToken mints a token and shows its secret on this response only
// (the page is never cached; only the hash is stored).
func (c *Console) createToken(w http.ResponseWriter, r *http.Request, s *session) {
	if !c.allowed(w, r, s, regcase.ActTokenManage) {
		return
	}
	f := newForm(url.Values{"name": {r.PostForm.Get("name")}, "role": {r.PostForm.Get("role")}})
	name, role := strings.TrimSpace(f.Get("name")), f.Get("role")
	if name == "" {
		f.Errors["name"] = "Give the token a name: it is the officer's sign-in name in the audit log and in assignments."
	}
	if role == "" {
		f.Errors["role"] = "Choose the role the token grants."
	}
	var created *regcase.APIToken
	secret := ""
	if !f.HasErrors() {
		t, sec, err := c.svc.CreateToken(r.Context(), s.actor, name, regcase.Role(role))
		if err != nil {
			field, msg, ok := formError(err)
			if !ok {
				c.fail(w, r, s, err)
				return
			}
			f.fail(field, msg, "name", "role")
		} else {
			created, secret = t, sec
			f = newForm(nil)
		}
	}
	v, ok := c.tokensView(w, r, s, f)
	if !ok {
		return
	}
	v.Created, v.Secret = created, secret
	status := http.StatusOK
	if created == nil {
		status = http.StatusUnprocessableEntity
	}
	c.render(w, r, status, "tokens.html", v)
}

func (c *Console) revokeToken(w http.ResponseWriter, r *http.Request, s *session) {
	if !c.allowed(w, r, s, regcase.ActTokenManage) {
		return
	}
	if err := c.svc.RevokeToken(r.Context(), s.actor, r.PathValue("id")); err != nil {
		c.fail(w, r, s, err)
		return
	}
	c.redirectWith(w, r, s, "/console/tokens", "Token revoked. Sessions signed in with it end within seconds.")
}
