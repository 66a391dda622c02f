package web

import (
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/regcase/regcase/internal/regcase"
)

// caseFilters are the list's query parameters, as the API names them.
var caseFilters = []string{"status", "priority", "assignee", "category", "subject", "q"}

type caseListView struct {
	base
	Filter     *form
	Rows       []caseRow
	Next       string
	First      string
	Mine       string
	Statuses   []string
	Priorities []string
	Categories []string
}

type caseRow struct {
	*regcase.Case
	SLA slaView
}

// slaView is a case's SLA clock as a person reads it.
type slaView struct {
	Due         time.Time
	Relative    string // "due in 3 days", "overdue by 2 hours"
	Paused      bool
	PausedAt    time.Time
	PauseReason string
	PausedTotal string
	Breached    bool
	BreachedAt  time.Time
	Overdue     bool
	Stopped     bool // the case is closed
}

func (c *Console) slaOf(cs *regcase.Case, now time.Time) slaView {
	v := slaView{Due: cs.SLA.DueAt, Stopped: c.lc.IsFinal(cs.Status)}
	if p := cs.SLA.PausedAt; p != nil {
		v.Paused, v.PausedAt, v.PauseReason = true, *p, cs.SLA.PauseReason
	}
	if b := cs.SLA.BreachedAt; b != nil {
		v.Breached, v.BreachedAt = true, *b
	}
	if cs.SLA.PausedTotal > 0 {
		v.PausedTotal = approx(cs.SLA.PausedTotal)
	}
	switch {
	case v.Stopped:
		v.Relative = "clock stopped: case closed"
	case v.Paused:
		v.Relative = "clock paused"
	case now.After(v.Due):
		v.Overdue = true
		v.Relative = "overdue by " + approx(now.Sub(v.Due))
	default:
		v.Relative = "due in " + approx(v.Due.Sub(now))
	}
	return v
}

// approx renders a duration the way people say it: "3 days", "5 hours".
func approx(d time.Duration) string {
	unit := func(n float64, name string) string {
		k := int(math.Round(n))
		if k == 1 {
			return "1 " + name
		}
		return fmt.Sprintf("%d %ss", k, name)
	}
	switch {
	case d >= 48*time.Hour:
		return unit(d.Hours()/24, "day")
	case d >= 2*time.Hour:
		return unit(d.Hours(), "hour")
	case d >= 2*time.Minute:
		return unit(d.Minutes(), "minute")
	default:
		return "a moment"
	}
}

func (c *Console) caseList(w http.ResponseWriter, r *http.Request, s *session) {
	if !c.allowed(w, r, s, regcase.ActCaseList) {
		return
	}
	q := r.URL.Query()
	f := newForm(url.Values{})
	for _, k := range caseFilters {
		if v := strings.TrimSpace(q.Get(k)); v != "" {
			f.Values.Set(k, v)
		}
	}
	v := &caseListView{base: officerBase(s, "Cases"), Filter: f,
		Statuses: append([]string{"|Any status"}, c.lc.StateNames()...), Priorities: priorityOptions("|Any priority"),
		Categories: append([]string{"|Any category"}, c.svc.Categories()...)}
	if s.actor.Role == regcase.RoleInvestigator {
		v.Mine = "/console/cases?" + url.Values{"assignee": {s.actor.ID}}.Encode()
	}
	cursor := q.Get("cursor")
	cs, err := c.svc.ListCases(r.Context(), s.actor, regcase.CaseFilter{Status: f.Get("status"), Priority: regcase.Priority(f.Get("priority")),
		Assignee: f.Get("assignee"), Category: f.Get("category"), Subject: f.Get("subject"), Query: f.Get("q"),
		Cursor: cursor, Limit: pageSize})
	if err != nil {
		field, msg, ok := formError(err)
		if !ok {
			c.fail(w, r, s, err)
			return
		}
		f.fail(field, msg, caseFilters...)
		c.render(w, r, http.StatusUnprocessableEntity, "cases.html", v)
		return
	}
	now := c.now()
	v.Rows = make([]caseRow, len(cs))
	for i, x := range cs {
		v.Rows[i] = caseRow{Case: x, SLA: c.slaOf(x, now)}
	}
	if len(cs) == pageSize {
		next := cloneValues(f.Values)
		next.Set("cursor", cs[len(cs)-1].ID)
		v.Next = "/console/cases?" + next.Encode()
	}
	if cursor != "" {
		v.First = "/console/cases"
		if len(f.Values) > 0 {
			v.First += "?" + f.Values.Encode()
		}
	}
	c.render(w, r, http.StatusOK, "cases.html", v)
}

func cloneValues(v url.Values) url.Values {
	out := url.Values{}
	for k, vs := range v {
		out[k] = append([]string(nil), vs...)
	}
	return out
}

// casePageView is the case page: the case, its clock, what happened to it,
// and a form for each thing the signed-in officer may do now.
type casePageView struct {
	base
	Case        *regcase.Case
	Final       bool
	SLA         slaView
	Details     []detail
	Reports     []*regcase.Report
	Transitions []transitionView
	Assign      *form
	AssignSelf  bool // an investigator may only take the case
	CanAssign   bool
	CanSLA      bool
	Pause       *form
	CanEdit     bool
	Edit        *form
	// EditPriorities are the priorities this officer may choose
	// (Service.PriorityChoices).
	EditPriorities []string
	CanAddNote     bool
	Note           *form
	CanNotes       bool
	Notes          []*regcase.Note
	Audit          []timelineEntry
	AuditNext      string
	Stale          string
	Changes        []timelineEntry // what happened since the officer's form was made
	// AssigneeName shows the assignee by name; names maps actor ids to names.
	AssigneeName string
	names        map[string]string
	Kept         []keptValue
	KeptTo       string

	// The reporter channel and the evidence (nil / false when the
	// officer may not see them on this case).
	Thread      *regcase.CaseThread
	CanMessage  bool
	Message     *form
	Attachments []*regcase.Attachment
	CanEvidence bool
	CanUpload   bool
	Upload      *form
}

type detail struct{ Label, Value string }

type keptValue struct{ Label, Value string }

// transitionView is the form for one transition the officer may take now,
// with exactly the fields the lifecycle says it requires.
type transitionView struct {
	To, Label, ID, Message string
	Kept                   bool // holds what the officer typed before
	Fields                 []tfield
}

// tfield is a control, or a group of controls (an enforcement action).
type tfield struct {
	Kind   string // input, textarea, select, group
	F      fieldView
	Legend string
	ID     string
	Err    string
	Group  []tfield
}

var fieldLabels = map[string]string{
	regcase.FieldAssignee:        "Assign to",
	regcase.FieldFindings:        "Findings",
	regcase.FieldProposedAction:  "Proposed action",
	regcase.FieldReason:          "Reason",
	regcase.FieldAction:          "Approved action",
	regcase.FieldResolution:      "Resolution",
	regcase.FieldAppealReference: "Appeal reference",
	regcase.FieldDecision:        "Decision on the appeal",
}

// detailLabels name the latest value of each transition field on a case.
var detailLabels = map[string]string{
	regcase.FieldAssignee:        "Assigned to",
	regcase.FieldFindings:        "Findings",
	regcase.FieldProposedAction:  "Proposed action",
	regcase.FieldReason:          "Latest reason given",
	regcase.FieldAction:          "Approved action",
	regcase.FieldResolution:      "Resolution",
	regcase.FieldAppealReference: "Appeal reference",
	regcase.FieldDecision:        "Decision on the appeal",
}

var detailOrder = []string{regcase.FieldAssignee, regcase.FieldFindings, regcase.FieldProposedAction, regcase.FieldAction,
	regcase.FieldAppealReference, regcase.FieldDecision, regcase.FieldReason, regcase.FieldResolution}

func (c *Console) transitionForm(s *session, cs *regcase.Case, t regcase.Transition, f *form) transitionView {
	id := "t-" + t.To
	tv := transitionView{To: t.To, Label: transitionLabel(t.From, t.To), ID: id, Message: f.Message}
	selfAssign := false
	for _, la := range t.Actors {
		if la.Role == s.actor.Role && la.Constraint == regcase.ConstraintSelfAssign {
			selfAssign = true
		}
	}
	for _, name := range t.Requires {
		label := fieldLabels[name]
		switch name {
		case regcase.FieldAssignee:
			if selfAssign {
				tv.Fields = append(tv.Fields, tfield{Kind: "input", F: newField(f, name, label, "prefix="+id, "readonly",
					"value="+s.actor.ID, "hint=Investigators can only take a case themselves.")})
			} else {
				tv.Fields = append(tv.Fields, tfield{Kind: "input", F: newField(f, name, label, "prefix="+id, "required", "max=200",
					"hint=The officer's sign-in name.")})
			}
		case regcase.FieldFindings, regcase.FieldReason, regcase.FieldDecision:
			tv.Fields = append(tv.Fields, tfield{Kind: "textarea", F: newField(f, name, label, "prefix="+id, "required", "max=4000", "rows=4")})
		case regcase.FieldAppealReference:
			tv.Fields = append(tv.Fields, tfield{Kind: "input", F: newField(f, name, label, "prefix="+id, "required", "max=4000")})
		case regcase.FieldResolution:
			tv.Fields = append(tv.Fields, tfield{Kind: "select", F: withOptions(newField(f, name, label, "prefix="+id, "required"),
				append([]string{"|Choose a resolution"}, t.Resolutions...))})
		case regcase.FieldProposedAction, regcase.FieldAction:
			tv.Fields = append(tv.Fields, c.actionGroup(cs, id, name, label, f))
		}
	}
	return tv
}

// actionGroup is the enforcement action fieldset. Approving starts from
// what the investigator proposed.
func (c *Console) actionGroup(cs *regcase.Case, id, name, label string, f *form) tfield {
	def := regcase.EnforcementAction{}
	if name == regcase.FieldAction {
		if raw, ok := cs.Details[regcase.FieldProposedAction]; ok {
			_ = json.Unmarshal(raw, &def)
		}
	}
	amount := ""
	if def.Amount > 0 {
		amount = strings.ReplaceAll(formatAmount(def.Amount), ",", "")
	}
	types := append([]string{"|Choose an action"}, regcase.EnforcementTypes...)
	g := tfield{Kind: "group", Legend: label, ID: strings.ReplaceAll(id+"-"+name, "_", "-"), Err: f.Err(name)}
	g.Group = []tfield{
		{Kind: "select", F: withOptions(newField(f, name+".type", "Type", "prefix="+id, "required", "value="+def.Type), types)},
		{Kind: "input", F: newField(f, name+".amount", "Fine amount", "prefix="+id, "max=20", "value="+amount,
			"hint=Only for a fine, e.g. 2500.00")},
		{Kind: "input", F: newField(f, name+".currency", "Currency", "prefix="+id, "max=3", "value="+def.Currency,
			"hint=Only for a fine: an ISO 4217 code such as EUR.")},
		{Kind: "textarea", F: newField(f, name+".note", "Note on the action", "prefix="+id, "max=2000", "rows=2", "value="+def.Note)},
	}
	return g
}

// parseAction reads an enforcement action from the form; nil when no type
// was chosen (the domain then says it is required).
func parseAction(f *form, name string) (*regcase.EnforcementAction, bool) {
	typ := f.Get(name + ".type")
	if typ == "" {
		return nil, true
	}
	a := &regcase.EnforcementAction{Type: typ, Currency: strings.ToUpper(strings.TrimSpace(f.Get(name + ".currency"))),
		Note: strings.TrimSpace(f.Get(name + ".note"))}
	if s := strings.TrimSpace(f.Get(name + ".amount")); s != "" {
		minor, ok := parseAmount(s)
		if !ok {
			f.Errors[name] = "The fine amount must be a number with at most two decimals, like 2500.00."
			return nil, false
		}
		a.Amount = minor
	}
	return a, true
}

// parseAmount reads "2500", "2,500.5" or "2500.00" as minor units.
func parseAmount(s string) (int64, bool) {
	s = strings.ReplaceAll(strings.ReplaceAll(s, ",", ""), " ", "")
	whole, frac, _ := strings.Cut(s, ".")
	if whole == "" || len(frac) > 2 || len(whole) > 15 {
		return 0, false
	}
	for len(frac) < 2 {
		frac += "0"
	}
	var n int64
	for _, d := range whole + frac {
		if d < '0' || d > '9' {
			return 0, false
		}
		n = n*10 + int64(d-'0')
	}
	return n, true
}

func (c *Console) details(cs *regcase.Case) []detail {
	var out []detail
	for _, k := range detailOrder {
		raw, ok := cs.Details[k]
		if !ok {
			continue
		}
		out = append(out, detail{Label: detailLabels[k], Value: detailValue(k, raw)})
	}
	return out
}

func detailValue(k string, raw json.RawMessage) string {
	if k == regcase.FieldProposedAction || k == regcase.FieldAction {
		var a regcase.EnforcementAction
		if json.Unmarshal(raw, &a) == nil && a.Type != "" {
			return actionText(a)
		}
	}
	var s string
	if json.Unmarshal(raw, &s) == nil {
		if k == regcase.FieldResolution {
			return humanize(s)
		}
		return s
	}
	return string(raw)
}

func actionText(a regcase.EnforcementAction) string {
	s := humanize(a.Type)
	if a.Type == "fine" {
		s += ": " + formatAmount(a.Amount) + " " + a.Currency
	}
	if a.Note != "" {
		s += " — " + a.Note
	}
	return s
}

// timelineEntry is one audit record as the case page tells it.
type timelineEntry struct {
	*regcase.AuditRecord
	Summary string
	Who     string // the actor's display name (a token's name), else its id
}

// timeline turns audit records into sentences; the recorded data stays
// available beside each one.
func timeline(recs []*regcase.AuditRecord, names map[string]string) []timelineEntry {
	out := make([]timelineEntry, len(recs))
	for i, r := range recs {
		out[i] = timelineEntry{AuditRecord: r, Summary: auditSummary(r), Who: displayName(names, r.ActorID)}
	}
	return out
}

func auditSummary(r *regcase.AuditRecord) string {
	var d map[string]any
	_ = json.Unmarshal(r.Data, &d)
	str := func(k string) string {
		s, _ := d[k].(string)
		return s
	}
	state := func(k string) string { return strings.ToLower(humanize(str(k))) }
	switch r.Action {
	case "case.opened":
		return "Case opened with " + str("priority") + " priority"
	case "case.report_linked":
		return "Report " + str("tracking_code") + " linked"
	case "case.transitioned":
		return "Moved from " + state("from") + " to " + state("to")
	case "case.assigned":
		return "Assigned to " + str("to")
	case "case.updated":
		if ch, ok := d["changed"].(map[string]any); ok {
			keys := make([]string, 0, len(ch))
			for k := range ch {
				keys = append(keys, k)
			}
			slices.Sort(keys)
			return "Changed " + strings.Join(keys, ", ")
		}
		return "Changed"
	case "case.sla_paused":
		return "SLA clock paused: " + str("reason")
	case "case.sla_resumed":
		return "SLA clock resumed"
	case "case.note_added":
		return "Internal note added"
	}
	return humanize(strings.ReplaceAll(r.Action, ".", " "))
}

// auditVersion is the case version an audit record's change produced, or 0.
func auditVersion(r *regcase.AuditRecord) int64 {
	var d struct {
		Version int64 `json:"version"`
	}
	_ = json.Unmarshal(r.Data, &d)
	return d.Version
}

// displayName shows an actor id by its token's name when there is one:
// records keep the stable id, people read the name.
func displayName(names map[string]string, id string) string {
	if n, ok := names[id]; ok {
		return n
	}
	return id
}
