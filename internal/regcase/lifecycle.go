package regcase

import (
	"bytes"
	_ "embed"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"unicode/utf8"
)

//go:embed lifecycle.json
var defaultLifecycle []byte

// DefaultLifecycleJSON returns the built-in lifecycle definition.
func DefaultLifecycleJSON() []byte { return bytes.Clone(defaultLifecycle) }

// Constraint narrows who, within a role, may take a transition.
type Constraint string

// The constraints a lifecycle actor can carry.
const (
	ConstraintNone       Constraint = ""
	ConstraintAssignee   Constraint = "assignee"    // the caller is the case's assignee
	ConstraintSelfAssign Constraint = "self_assign" // the assignee named is the caller, and the case is unassigned or already the caller's
	// ConstraintUnassignedOrAssignee (case actions only): the case has no
	// assignee or the caller is its assignee.
	ConstraintUnassignedOrAssignee Constraint = "unassigned_or_assignee"
)

// The fields a transition can require. Each has a validator below.
const (
	FieldAssignee        = "assignee"
	FieldFindings        = "findings"
	FieldProposedAction  = "proposed_action"
	FieldReason          = "reason"
	FieldAction          = "action"
	FieldResolution      = "resolution"
	FieldAppealReference = "appeal_reference"
	FieldDecision        = "decision"
)

var knownFields = []string{FieldAssignee, FieldFindings, FieldProposedAction, FieldReason,
	FieldAction, FieldResolution, FieldAppealReference, FieldDecision}

// LifecycleState is one state of the case lifecycle.
type LifecycleState struct {
	Name  string `json:"name"`
	Final bool   `json:"final,omitempty"`
}

// LifecycleActor is a role allowed to take a transition, with an optional
// constraint.
type LifecycleActor struct {
	Role       Role       `json:"role"`
	Constraint Constraint `json:"constraint,omitempty"`
}

// Transition is one edge of the lifecycle.
type Transition struct {
	From        string           `json:"from"`
	To          string           `json:"to"`
	Requires    []string         `json:"requires"`
	Resolutions []string         `json:"resolutions,omitempty"`
	Actors      []LifecycleActor `json:"actors"`
}

// CaseActionRule narrows, per object, who may take a case action outside
// the state machine (edit, assign, SLA pause/resume, lower the priority).
// The role must also hold the action in Matrix; a role the rule does not
// list may not take the action at all.
type CaseActionRule struct {
	Action Action           `json:"action"`
	Actors []LifecycleActor `json:"actors"`
}

// caseRuleActions are the actions a case_actions rule may name.
var caseRuleActions = []Action{ActCaseUpdate, ActCaseAssign, ActCaseSLA, ActCaseLowerPriority,
	ActCaseMessageRead, ActCaseMessageSend, ActAttachmentRead, ActCaseAttachmentAdd}

// Lifecycle is the case state machine as data. Build one with ParseLifecycle,
// which validates it; the zero value is unusable.
type Lifecycle struct {
	Name    string           `json:"name"`
	Initial string           `json:"initial"`
	States  []LifecycleState `json:"states"`
	// CaseActions are the object-level rules. A definition without the key
	// gets the built-in rules (so a custom file never silently drops them);
	// an explicit empty list means "the role matrix alone decides".
	CaseActions []CaseActionRule `json:"case_actions"`
	Transitions []Transition     `json:"transitions"`
}

// ParseLifecycle decodes and validates a lifecycle definition. It returns an
// error naming the first problem: unknown state, role, field or constraint, a
// duplicate edge, an unreachable state, a final state with no resolution
// requirement on its way in, or a non-final state with no way out.
func ParseLifecycle(data []byte) (*Lifecycle, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	var lc Lifecycle
	if err := dec.Decode(&lc); err != nil {
		return nil, fmt.Errorf("lifecycle: decode: %w", err)
	}
	if lc.CaseActions == nil {
		var def struct {
			CaseActions []CaseActionRule `json:"case_actions"`
		}
		if err := json.Unmarshal(defaultLifecycle, &def); err != nil {
			return nil, fmt.Errorf("lifecycle: built-in case actions: %w", err)
		}
		lc.CaseActions = def.CaseActions
	}
	if err := lc.validate(); err != nil {
		return nil, fmt.Errorf("lifecycle %q: %w", lc.Name, err)
	}
	if err := lc.validateCaseActions(); err != nil {
		return nil, fmt.Errorf("lifecycle %q: %w", lc.Name, err)
	}
	return &lc, nil
}

func (lc *Lifecycle) validateCaseActions() error {
	seen := map[Action]bool{}
	for i, r := range lc.CaseActions {
		where := fmt.Sprintf("case_actions %d (%s)", i, r.Action)
		if !slices.Contains(caseRuleActions, r.Action) {
			return fmt.Errorf("%s: not a case action (want one of %v)", where, caseRuleActions)
		}
		if seen[r.Action] {
			return fmt.Errorf("%s: defined twice", where)
		}
		seen[r.Action] = true
		if len(r.Actors) == 0 {
			return fmt.Errorf("%s: no actor may take it", where)
		}
		roles := map[Role]bool{}
		for _, a := range r.Actors {
			if !Can(a.Role, r.Action) {
				return fmt.Errorf("%s: role %q does not hold %s in the role matrix", where, a.Role, r.Action)
			}
			if roles[a.Role] {
				return fmt.Errorf("%s: role %q listed twice", where, a.Role)
			}
			roles[a.Role] = true
			switch a.Constraint {
			case ConstraintNone, ConstraintAssignee, ConstraintUnassignedOrAssignee:
			default:
				return fmt.Errorf("%s: unknown constraint %q (want assignee or unassigned_or_assignee)", where, a.Constraint)
			}
		}
	}
	return nil
}

// CaseRule returns the object-level rule of act, or nil when the lifecycle
// has none (then the role matrix alone decides).
func (lc *Lifecycle) CaseRule(act Action) *CaseActionRule {
	for i := range lc.CaseActions {
		if lc.CaseActions[i].Action == act {
			return &lc.CaseActions[i]
		}
	}
	return nil
}

// CheckCaseAction applies the object-level rule of act to a case with the
// given assignee. Errors: EForbidden when the caller's role is not in the
// rule, EObjectForbidden when the role is but the case is not the caller's
// (assigned to someone else). The role matrix is checked separately.
func (lc *Lifecycle) CheckCaseAction(a Actor, act Action, caseNumber, assignee string) error {
	rule := lc.CaseRule(act)
	if rule == nil {
		return nil
	}
	for _, la := range rule.Actors {
		if la.Role != a.Role {
			continue
		}
		if constraintHolds(la.Constraint, a, assignee) {
			return nil
		}
		if la.Constraint == ConstraintAssignee && assignee == "" {
			return Errorf(EObjectForbidden, "role %s may %s only on a case assigned to it; case %s is unassigned", a.Role, act, caseNumber)
		}
		return Errorf(EObjectForbidden, "case %s is assigned to someone else; role %s may %s only on a case that is unassigned or its own", caseNumber, a.Role, act)
	}
	return Errorf(EForbidden, "role %s may not %s", a.Role, act)
}

// CanCaseAction reports whether CheckCaseAction (and the role matrix) allow
// act; the console uses it to show only forms that can succeed.
func (lc *Lifecycle) CanCaseAction(a Actor, act Action, assignee string) bool {
	return Can(a.Role, act) && lc.CheckCaseAction(a, act, "", assignee) == nil
}

func constraintHolds(c Constraint, a Actor, assignee string) bool {
	switch c {
	case ConstraintNone:
		return true
	case ConstraintAssignee:
		return assignee != "" && assignee == a.ID
	case ConstraintUnassignedOrAssignee, ConstraintSelfAssign:
		return assignee == "" || assignee == a.ID
	}
	return false
}

// MustDefaultLifecycle returns the built-in lifecycle; it panics only if the
// embedded file is broken, which a test guards.
func MustDefaultLifecycle() *Lifecycle {
	lc, err := ParseLifecycle(defaultLifecycle)
	if err != nil {
		panic(err)
	}
	return lc
}

func (lc *Lifecycle) validate() error {
	if len(lc.States) == 0 {
		return errors.New("no states")
	}
	states := map[string]LifecycleState{}
	for _, s := range lc.States {
		if s.Name == "" {
			return errors.New("a state has no name")
		}
		if _, dup := states[s.Name]; dup {
			return fmt.Errorf("state %q defined twice", s.Name)
		}
		states[s.Name] = s
	}
	if _, ok := states[lc.Initial]; !ok {
		return fmt.Errorf("initial state %q is not a state", lc.Initial)
	}
	seen := map[[2]string]bool{}
	out := map[string]int{}
	for i, t := range lc.Transitions {
		where := fmt.Sprintf("transition %d (%s -> %s)", i, t.From, t.To)
		if _, ok := states[t.From]; !ok {
			return fmt.Errorf("%s: unknown from-state", where)
		}
		to, ok := states[t.To]
		if !ok {
			return fmt.Errorf("%s: unknown to-state", where)
		}
		if t.From == t.To {
			return fmt.Errorf("%s: a transition must change state", where)
		}
		if seen[[2]string{t.From, t.To}] {
			return fmt.Errorf("%s: defined twice", where)
		}
		seen[[2]string{t.From, t.To}] = true
		out[t.From]++
		if len(t.Actors) == 0 {
			return fmt.Errorf("%s: no actor may take it", where)
		}
		for _, a := range t.Actors {
			if !slices.Contains(StaffRoles, a.Role) {
				return fmt.Errorf("%s: unknown role %q", where, a.Role)
			}
			switch a.Constraint {
			case ConstraintNone, ConstraintAssignee:
			case ConstraintSelfAssign:
				if !slices.Contains(t.Requires, FieldAssignee) {
					return fmt.Errorf("%s: self_assign needs the assignee field", where)
				}
			default:
				return fmt.Errorf("%s: unknown constraint %q", where, a.Constraint)
			}
		}
		for _, f := range t.Requires {
			if !slices.Contains(knownFields, f) {
				return fmt.Errorf("%s: unknown field %q", where, f)
			}
		}
		hasRes := slices.Contains(t.Requires, FieldResolution)
		if to.Final != hasRes {
			return fmt.Errorf("%s: entering a final state needs a resolution, and only then", where)
		}
		if hasRes && len(t.Resolutions) == 0 {
			return fmt.Errorf("%s: requires a resolution but lists none", where)
		}
	}
	for _, s := range lc.States {
		if !s.Final && out[s.Name] == 0 {
			return fmt.Errorf("state %q is not final and has no way out", s.Name)
		}
	}
	reach := map[string]bool{lc.Initial: true}
	for changed := true; changed; {
		changed = false
		for _, t := range lc.Transitions {
			if reach[t.From] && !reach[t.To] {
				reach[t.To], changed = true, true
			}
		}
	}
	for _, s := range lc.States {
		if !reach[s.Name] {
			return fmt.Errorf("state %q is unreachable from %q", s.Name, lc.Initial)
		}
	}
	return nil
}

// IsState reports whether name is a state of the lifecycle.
func (lc *Lifecycle) IsState(name string) bool {
	return slices.ContainsFunc(lc.States, func(s LifecycleState) bool { return s.Name == name })
}

// IsFinal reports whether name is a final state.
func (lc *Lifecycle) IsFinal(name string) bool {
	return slices.ContainsFunc(lc.States, func(s LifecycleState) bool { return s.Name == name && s.Final })
}

// StateNames lists the states in definition order.
func (lc *Lifecycle) StateNames() []string {
	names := make([]string, len(lc.States))
	for i, s := range lc.States {
		names[i] = s.Name
	}
	return names
}

// Find returns the transition from -> to, or nil.
func (lc *Lifecycle) Find(from, to string) *Transition {
	for i := range lc.Transitions {
		if lc.Transitions[i].From == from && lc.Transitions[i].To == to {
			return &lc.Transitions[i]
		}
	}
	return nil
}

// actorAllowed reports whether the caller may take t on a case with the given
// assignee, ignoring the self_assign constraint's field check (done in Check).
func (t *Transition) actorAllowed(a Actor, assignee string) (LifecycleActor, bool) {
	for _, la := range t.Actors {
		if la.Role != a.Role {
			continue
		}
		if !constraintHolds(la.Constraint, a, assignee) {
			continue
		}
		return la, true
	}
	return LifecycleActor{}, false
}

// Available lists the transitions the actor may perform now on a case in
// state from with the given assignee.
func (lc *Lifecycle) Available(a Actor, from, assignee string) []Transition {
	if !Can(a.Role, ActCaseTransition) {
		return nil
	}
	var out []Transition
	for _, t := range lc.Transitions {
		if t.From != from {
			continue
		}
		if _, ok := t.actorAllowed(a, assignee); ok {
			out = append(out, t)
		}
	}
	return out
}

// TransitionInput carries the fields a transition may require.
type TransitionInput struct {
	To              string
	Assignee        string
	Findings        string
	ProposedAction  *EnforcementAction
	Reason          string
	Action          *EnforcementAction
	Resolution      string
	AppealReference string
	Decision        string
}

// Check validates a requested transition: EConflict when the edge does not
// exist, EForbidden when the actor may not take it, EInvalid when a required
// field is missing or malformed. It returns the transition on success.
func (lc *Lifecycle) Check(a Actor, from, assignee string, in TransitionInput) (*Transition, error) {
	if !lc.IsState(in.To) {
		return nil, FieldError("to", "unknown state %q (states: %s)", in.To, strings.Join(lc.StateNames(), ", "))
	}
	t := lc.Find(from, in.To)
	if t == nil {
		return nil, Errorf(EConflict, "a case cannot go from %s to %s%s", from, in.To, lc.exitsHint(a, from, assignee))
	}
	la, ok := t.actorAllowed(a, assignee)
	if !ok {
		if hint := assigneeHint(t, a); hint != "" {
			return nil, Errorf(EObjectForbidden, "role %s may move a case from %s to %s only %s", a.Role, from, in.To, hint)
		}
		return nil, Errorf(EForbidden, "role %s may not move a case from %s to %s", a.Role, from, in.To)
	}
	for _, f := range t.Requires {
		if err := checkField(t, f, in); err != nil {
			return nil, err
		}
	}
	if la.Constraint == ConstraintSelfAssign && in.Assignee != a.ID {
		return nil, FieldError(FieldAssignee, "role %s may only assign the case to itself (%s)", a.Role, a.ID)
	}
	return t, nil
}

// exitsHint names the states a case in from can move to, and which of those
// moves the caller may take now, for the message of a refused transition.
func (lc *Lifecycle) exitsHint(a Actor, from, assignee string) string {
	var all, mine []string
	for _, t := range lc.Transitions {
		if t.From == from {
			all = append(all, t.To)
		}
	}
	for _, t := range lc.Available(a, from, assignee) {
		mine = append(mine, t.To)
	}
	if len(all) == 0 {
		return " (" + from + " is final: no transitions leave it)"
	}
	hint := "; allowed from " + from + ": " + strings.Join(all, ", ")
	if len(mine) == 0 {
		return hint + " (none of them by role " + string(a.Role) + " now)"
	}
	return hint + " (role " + string(a.Role) + " may take now: " + strings.Join(mine, ", ") + ")"
}

// assigneeHint says why the caller's role, listed on t with a constraint,
// may not take t on this case; "" when the role is not listed at all (a
// refusal of the role, not of this case).
func assigneeHint(t *Transition, a Actor) string {
	for _, la := range t.Actors {
		if la.Role != a.Role {
			continue
		}
		switch la.Constraint {
		case ConstraintAssignee:
			return "when assigned to the case"
		case ConstraintSelfAssign:
			return "when the case is unassigned or already its own"
		}
	}
	return ""
}

func checkField(t *Transition, f string, in TransitionInput) error {
	text := func(v string) error {
		if strings.TrimSpace(v) == "" {
			return FieldError(f, "%s is required to move a case from %s to %s", f, t.From, t.To)
		}
		if utf8.RuneCountInString(v) > 4000 {
			return FieldError(f, "%s is longer than 4000 characters", f)
		}
		return nil
	}
	switch f {
	case FieldAssignee:
		return text(in.Assignee)
	case FieldFindings:
		return text(in.Findings)
	case FieldReason:
		return text(in.Reason)
	case FieldAppealReference:
		return text(in.AppealReference)
	case FieldDecision:
		return text(in.Decision)
	case FieldProposedAction:
		return in.ProposedAction.validate(f)
	case FieldAction:
		return in.Action.validate(f)
	case FieldResolution:
		if !slices.Contains(t.Resolutions, in.Resolution) {
			return FieldError(f, "resolution %q is not allowed from %s to %s (allowed: %s)",
				in.Resolution, t.From, t.To, strings.Join(t.Resolutions, ", "))
		}
	}
	return nil
}
