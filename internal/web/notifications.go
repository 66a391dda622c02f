package web

import (
	"net/http"
	"net/url"
	"strings"

	"github.com/regcase/regcase/internal/regcase"
)

// The officer's own notification settings: e-mail address and opt-out.

type notificationsView struct {
	base
	Form   *form
	Notify bool
	Set    bool // an address is on file
}

func (c *Console) notificationsPage(w http.ResponseWriter, r *http.Request, s *session) {
	v := &notificationsView{base: officerBase(s, "Notifications"), Form: newForm(nil), Notify: true}
	ct, err := c.svc.GetContact(r.Context(), s.actor)
	switch {
	case err == nil:
		v.Form = newForm(url.Values{"email": {ct.Email}})
		v.Notify, v.Set = ct.Notify, true
	case regcase.ErrorCodeOf(err) != regcase.ENotFound:
		c.fail(w, r, s, err)
		return
	}
	c.render(w, r, http.StatusOK, "notifications.html", v)
}

func (c *Console) saveNotifications(w http.ResponseWriter, r *http.Request, s *session) {
	f := newForm(url.Values{"email": {strings.TrimSpace(r.PostForm.Get("email"))}})
	notify := r.PostForm.Get("notify") == "on"
	if f.Get("email") == "" {
		f.Errors["email"] = "Give the address notifications go to."
	}
	if !f.HasErrors() {
		_, err := c.svc.SetContact(r.Context(), s.actor, regcase.ContactInput{Email: f.Get("email"), Notify: notify})
		if err == nil {
			msg := "Notifications are on."
			if !notify {
				msg = "Notifications are off: you will receive no e-mail."
			}
			c.redirectWith(w, r, s, "/console/notifications", msg)
			return
		}
		field, msg, ok := formError(err)
		if !ok {
			c.fail(w, r, s, err)
			return
		}
		f.fail(field, msg, "email")
	}
	v := &notificationsView{base: officerBase(s, "Notifications"), Form: f, Notify: notify}
	c.render(w, r, http.StatusUnprocessableEntity, "notifications.html", v)
}
