package web

import (
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/regcase/regcase/internal/regcase"
)

type auditView struct {
	base
	Filter    *form
	Records   []*regcase.AuditRecord
	Next      string
	CanVerify bool
}

// auditList pages through the audit log, oldest first, optionally one chain.
func (c *Console) auditList(w http.ResponseWriter, r *http.Request, s *session) {
	if !c.allowed(w, r, s, regcase.ActAuditRead) {
		return
	}
	q := r.URL.Query()
	chain := strings.TrimSpace(q.Get("chain"))
	v := &auditView{base: officerBase(s, "Audit log"), Filter: newForm(url.Values{"chain": {chain}}),
		CanVerify: regcase.Can(s.actor.Role, regcase.ActAuditVerify)}
	after, err := strconv.ParseInt(q.Get("after"), 10, 64)
	if q.Get("after") != "" && (err != nil || after < 0) {
		v.Filter.Message = "The page position in the address is not valid; showing the first page."
		after = 0
	}
	rs, err := c.svc.ListAudit(r.Context(), s.actor, regcase.AuditFilter{Chain: chain, AfterID: after, Limit: pageSize})
	if err != nil {
		c.fail(w, r, s, err)
		return
	}
	v.Records = rs
	if len(rs) == pageSize {
		next := url.Values{"after": {strconv.FormatInt(rs[len(rs)-1].ID, 10)}}
		if chain != "" {
			next.Set("chain", chain)
		}
		v.Next = "/console/audit?" + next.Encode()
	}
	c.render(w, r, http.StatusOK, "audit.html", v)
}

type verifyView struct {
	base
	Result  *regcase.VerifyResult
	Signed  bool
	CanRead bool
}

func (c *Console) verifyPage(w http.ResponseWriter, r *http.Request, s *session) {
	if !c.allowed(w, r, s, regcase.ActAuditVerify) {
		return
	}
	c.render(w, r, http.StatusOK, "verify.html", &verifyView{base: officerBase(s, "Verify the audit log"),
		Signed: c.deps.PublicKey != nil, CanRead: regcase.Can(s.actor.Role, regcase.ActAuditRead)})
}

// verify checks the whole log, with the checkpoint signatures when the
// server has the public key. A POST: it is expensive, so not a link.
func (c *Console) verify(w http.ResponseWriter, r *http.Request, s *session) {
	if !c.allowed(w, r, s, regcase.ActAuditVerify) {
		return
	}
	res, err := c.svc.VerifyAudit(r.Context(), s.actor, c.deps.PublicKey)
	if err != nil {
		c.fail(w, r, s, err)
		return
	}
	c.render(w, r, http.StatusOK, "verify.html", &verifyView{base: officerBase(s, "Verify the audit log"), Result: res,
		Signed: c.deps.PublicKey != nil, CanRead: regcase.Can(s.actor.Role, regcase.ActAuditRead)})
}
