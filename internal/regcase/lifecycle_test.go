package regcase

import (
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"testing"
)

// wantActor is one role allowed on an edge, with its constraint.
type wantActor struct {
	role       Role
	constraint Constraint
}

// wantEdge is one row of the transitions table in docs/domain.md.
type wantEdge struct {
	from, to    string
	actors      []wantActor
	requires    []string
	resolutions []string
}

// wantStates and wantEdges are transcribed by hand from the lifecycle
// tables of docs/domain.md (states and transitions), not derived from lifecycle.json: they are what the file must
// say.
var (
	wantName    = "enforcement-case"
	wantInitial = "open"
	wantStates  = []string{"open", "investigating", "pending_decision", "enforcement", "appealed", "closed"}
	wantFinal   = []string{"closed"}

	sup         = wantActor{RoleSupervisor, ConstraintNone}
	inv         = wantActor{RoleInvestigator, ConstraintNone}
	invSelf     = wantActor{RoleInvestigator, ConstraintSelfAssign}
	invAssigned = wantActor{RoleInvestigator, ConstraintAssignee}

	wantEdges = []wantEdge{
		// | open | investigating | supervisor (assigns) or investigator (self-assign) | assignee |
		{"open", "investigating", []wantActor{sup, invSelf}, []string{"assignee"}, nil},
		// | investigating | pending_decision | assigned investigator | findings, proposed action |
		{"investigating", "pending_decision", []wantActor{invAssigned}, []string{"findings", "proposed_action"}, nil},
		// | pending_decision | investigating | supervisor | reason |
		{"pending_decision", "investigating", []wantActor{sup}, []string{"reason"}, nil},
		// | pending_decision | enforcement | supervisor | approved action |
		{"pending_decision", "enforcement", []wantActor{sup}, []string{"action"}, nil},
		// | pending_decision | closed | supervisor | resolution: no_violation, insufficient_evidence, referred |
		{"pending_decision", "closed", []wantActor{sup}, []string{"resolution"}, []string{"no_violation", "insufficient_evidence", "referred"}},
		// | enforcement | appealed | investigator or supervisor | appeal reference |
		{"enforcement", "appealed", []wantActor{inv, sup}, []string{"appeal_reference"}, nil},
		// | appealed | enforcement | supervisor | decision (appeal rejected) |
		{"appealed", "enforcement", []wantActor{sup}, []string{"decision"}, nil},
		// | appealed | closed | supervisor | resolution: overturned_on_appeal |
		{"appealed", "closed", []wantActor{sup}, []string{"resolution"}, []string{"overturned_on_appeal"}},
		// | enforcement | closed | supervisor | resolution: complied / action_completed |
		{"enforcement", "closed", []wantActor{sup}, []string{"resolution"}, []string{"complied", "action_completed"}},
		// | open | closed | supervisor | resolution: duplicate, out_of_scope |
		{"open", "closed", []wantActor{sup}, []string{"resolution"}, []string{"duplicate", "out_of_scope"}},
		// | closed | investigating | supervisor | reopen reason |
		{"closed", "investigating", []wantActor{sup}, []string{"reason"}, nil},
	}
)

func findWantEdge(from, to string) *wantEdge {
	for i := range wantEdges {
		if wantEdges[i].from == from && wantEdges[i].to == to {
			return &wantEdges[i]
		}
	}
	return nil
}

// caseOwner says whose a case is, from the caller's point of view.
type caseOwner int

const (
	ownerMine caseOwner = iota
	ownerOther
	ownerNobody
)

// wantAllowed is the intended policy: "assignee" needs the case to be the
// caller's; "self_assign" needs it unassigned or the caller's.
func wantAllowed(from, to string, role Role, owner caseOwner) bool {
	e := findWantEdge(from, to)
	if e == nil {
		return false
	}
	for _, a := range e.actors {
		if a.role != role {
			continue
		}
		if a.constraint == ConstraintAssignee && owner != ownerMine {
			continue
		}
		if a.constraint == ConstraintSelfAssign && owner == ownerOther {
			continue
		}
		return true
	}
	return false
}

// wantRefusal is the code of a refused edge: object_forbidden when the role
// is listed on the edge with a constraint (a refusal of this case),
// forbidden when the role is not listed (a refusal of the role).
func wantRefusal(from, to string, role Role) ErrorCode {
	if e := findWantEdge(from, to); e != nil {
		for _, a := range e.actors {
			if a.role == role && a.constraint != ConstraintNone {
				return EObjectForbidden
			}
		}
	}
	return EForbidden
}

// canonical renders an edge in a comparable, order-insensitive form.
func canonical(from, to string, actors []wantActor, requires, resolutions []string) string {
	as := make([]string, len(actors))
	for i, a := range actors {
		as[i] = string(a.role) + "/" + string(a.constraint)
	}
	slices.Sort(as)
	rq := slices.Sorted(slices.Values(requires))
	rs := slices.Sorted(slices.Values(resolutions))
	return fmt.Sprintf("%s -> %s actors=%v requires=%v resolutions=%v", from, to, as, rq, rs)
}

func canonicalTransition(t Transition) string {
	as := make([]wantActor, len(t.Actors))
	for i, a := range t.Actors {
		as[i] = wantActor{a.Role, a.Constraint}
	}
	return canonical(t.From, t.To, as, t.Requires, t.Resolutions)
}

func TestDefaultLifecycleMatchesProduct(t *testing.T) {
	lc := MustDefaultLifecycle()

	if got, want := lc.Name, wantName; got != want {
		t.Errorf("name = %q, want %q", got, want)
	}
	if got, want := lc.Initial, wantInitial; got != want {
		t.Errorf("initial = %q, want %q", got, want)
	}
	if got, want := lc.StateNames(), wantStates; !slices.Equal(got, want) {
		t.Errorf("states = %v, want %v", got, want)
	}
	var gotFinal []string
	for _, s := range lc.States {
		if s.Final {
			gotFinal = append(gotFinal, s.Name)
		}
	}
	if got, want := gotFinal, wantFinal; !slices.Equal(got, want) {
		t.Errorf("final states = %v, want %v", got, want)
	}

	got := map[string]bool{}
	for _, tr := range lc.Transitions {
		c := canonicalTransition(tr)
		if got[c] {
			t.Errorf("transition listed twice: %s", c)
		}
		got[c] = true
	}
	want := map[string]bool{}
	for _, e := range wantEdges {
		want[canonical(e.from, e.to, e.actors, e.requires, e.resolutions)] = true
	}
	for _, c := range slices.Sorted(maps.Keys(want)) {
		if !got[c] {
			t.Errorf("docs/domain.md edge missing or different in lifecycle.json: %s", c)
		}
	}
	for _, c := range slices.Sorted(maps.Keys(got)) {
		if !want[c] {
			t.Errorf("lifecycle.json edge not in docs/domain.md (or different): %s", c)
		}
	}
	if got, want := len(lc.Transitions), len(wantEdges); got != want {
		t.Errorf("%d transitions, want %d", got, want)
	}
}

func TestDefaultLifecycleJSONIsACopy(t *testing.T) {
	b := DefaultLifecycleJSON()
	b[0] = 'X'
	if _, err := ParseLifecycle(DefaultLifecycleJSON()); err != nil {
		t.Fatalf("mutating the returned bytes broke the embedded lifecycle: %v", err)
	}
}

// validAction is an enforcement action that passes validation.
func validAction() *EnforcementAction {
	return &EnforcementAction{Type: "fine", Amount: 50000, Currency: "EUR", Note: "per article 12"}
}

// validInput returns a TransitionInput that satisfies every field the edge
// from -> to requires, assigning the case to assignee when it asks for one.
func validInput(tb testing.TB, from, to, assignee string) TransitionInput {
	tb.Helper()
	in := TransitionInput{To: to}
	e := findWantEdge(from, to)
	if e == nil {
		return in
	}
	for _, f := range e.requires {
		switch f {
		case FieldAssignee:
			in.Assignee = assignee
		case FieldFindings:
			in.Findings = "the operator exceeded its licence"
		case FieldProposedAction:
			in.ProposedAction = validAction()
		case FieldReason:
			in.Reason = "new evidence"
		case FieldAction:
			in.Action = validAction()
		case FieldResolution:
			in.Resolution = e.resolutions[0]
		case FieldAppealReference:
			in.AppealReference = "APL-2026-7"
		case FieldDecision:
			in.Decision = "appeal rejected"
		default:
			tb.Fatalf("validInput: field %q has no value", f)
		}
	}
	return in
}

// blankField clears field f of in.
func blankField(tb testing.TB, in *TransitionInput, f, blank string) {
	tb.Helper()
	switch f {
	case FieldAssignee:
		in.Assignee = blank
	case FieldFindings:
		in.Findings = blank
	case FieldProposedAction:
		in.ProposedAction = nil
	case FieldReason:
		in.Reason = blank
	case FieldAction:
		in.Action = nil
	case FieldResolution:
		in.Resolution = blank
	case FieldAppealReference:
		in.AppealReference = blank
	case FieldDecision:
		in.Decision = blank
	default:
		tb.Fatalf("blankField: unknown field %q", f)
	}
}

// wantCode asserts err is a domain *Error with code (and field, when not "").
func wantCode(tb testing.TB, err error, code ErrorCode, field string) {
	tb.Helper()
	var e *Error
	if !errors.As(err, &e) {
		tb.Fatalf("err = %v (%T), want *Error with code %s", err, err, code)
	}
	if got, want := e.Code, code; got != want {
		tb.Fatalf("code = %s (%v), want %s", got, err, want)
	}
	if field != "" {
		if got, want := e.Field, field; got != want {
			tb.Fatalf("field = %q (%v), want %q", got, err, want)
		}
	}
	if e.Message == "" {
		tb.Fatalf("error %v has no message", err)
	}
}

func TestCheckEveryTriple(t *testing.T) {
	lc := MustDefaultLifecycle()
	const me, other = "token:me", "token:other"
	targets := append(slices.Clone(wantStates), "", "archived", "OPEN", " open")
	roles := append(slices.Clone(Roles), Role(""), Role("root"))

	allowed := 0
	for _, from := range wantStates {
		for _, to := range targets {
			for _, role := range roles {
				for _, owner := range []caseOwner{ownerMine, ownerOther, ownerNobody} {
					caseAssignee := map[caseOwner]string{ownerMine: me, ownerOther: other, ownerNobody: ""}[owner]
					name := fmt.Sprintf("%s->%q/%s/assignee=%q", from, to, role, caseAssignee)
					actor := Actor{ID: me, Role: role}
					in := validInput(t, from, to, me)
					tr, err := lc.Check(actor, from, caseAssignee, in)
					switch {
					case !slices.Contains(wantStates, to):
						if tr != nil {
							t.Errorf("%s: returned a transition with an error", name)
						}
						wantCode(t, err, EInvalid, "to")
					case findWantEdge(from, to) == nil:
						if tr != nil {
							t.Errorf("%s: returned a transition with an error", name)
						}
						wantCode(t, err, EConflict, "")
					case !wantAllowed(from, to, role, owner):
						if tr != nil {
							t.Errorf("%s: returned a transition with an error", name)
						}
						wantCode(t, err, wantRefusal(from, to, role), "")
					default:
						allowed++
						if err != nil {
							t.Errorf("%s: Check = %v, want OK", name, err)
							continue
						}
						if tr == nil || tr.From != from || tr.To != to {
							t.Errorf("%s: Check returned %+v", name, tr)
						}
					}
				}
			}
		}
	}
	// Counted for a case that is mine, someone else's and nobody's.
	// supervisor: 10 edges × 3; investigator: open->investigating (mine or
	// nobody's: 2), investigating->pending_decision (mine: 1),
	// enforcement->appealed (3).
	if got, want := allowed, 10*3+(2+1+3); got != want {
		t.Errorf("%d allowed triples, want %d", got, want)
	}
}

func TestCheckSelfLoopIsConflict(t *testing.T) {
	lc := MustDefaultLifecycle()
	for _, s := range wantStates {
		in := TransitionInput{To: s, Assignee: "x", Reason: "r", Resolution: "duplicate"}
		_, err := lc.Check(Actor{ID: "x", Role: RoleSupervisor}, s, "x", in)
		wantCode(t, err, EConflict, "")
	}
}

func TestCheckUnknownFromState(t *testing.T) {
	lc := MustDefaultLifecycle()
	_, err := lc.Check(Actor{ID: "x", Role: RoleSupervisor}, "limbo", "", validInput(t, "open", "investigating", "x"))
	wantCode(t, err, EConflict, "")
}

func TestCheckAssignment(t *testing.T) {
	lc := MustDefaultLifecycle()
	inv := Actor{ID: "token:inv", Role: RoleInvestigator}
	sup := Actor{ID: "token:sup", Role: RoleSupervisor}

	t.Run("OK/InvestigatorSelfAssigns", func(t *testing.T) {
		if _, err := lc.Check(inv, "open", "", TransitionInput{To: "investigating", Assignee: inv.ID}); err != nil {
			t.Fatalf("Check = %v", err)
		}
	})
	t.Run("OK/SupervisorAssignsAnyone", func(t *testing.T) {
		for _, who := range []string{"token:inv", "token:someone", sup.ID} {
			if _, err := lc.Check(sup, "open", "", TransitionInput{To: "investigating", Assignee: who}); err != nil {
				t.Errorf("assign %s: Check = %v", who, err)
			}
		}
	})
	t.Run("ErrInvalid/InvestigatorAssignsOther", func(t *testing.T) {
		_, err := lc.Check(inv, "open", "", TransitionInput{To: "investigating", Assignee: "token:other"})
		wantCode(t, err, EInvalid, FieldAssignee)
	})
	t.Run("ErrInvalid/InvestigatorAssignsNobody", func(t *testing.T) {
		_, err := lc.Check(inv, "open", "", TransitionInput{To: "investigating"})
		wantCode(t, err, EInvalid, FieldAssignee)
	})
	t.Run("ErrInvalid/SupervisorAssignsNobody", func(t *testing.T) {
		_, err := lc.Check(sup, "open", "", TransitionInput{To: "investigating", Assignee: " \t"})
		wantCode(t, err, EInvalid, FieldAssignee)
	})

	submit := validInput(t, "investigating", "pending_decision", "")
	t.Run("OK/AssignedInvestigatorSubmits", func(t *testing.T) {
		if _, err := lc.Check(inv, "investigating", inv.ID, submit); err != nil {
			t.Fatalf("Check = %v", err)
		}
	})
	t.Run("ErrObjectForbidden/OtherInvestigatorSubmits", func(t *testing.T) {
		_, err := lc.Check(inv, "investigating", "token:other", submit)
		wantCode(t, err, EObjectForbidden, "")
		if !strings.Contains(err.Error(), "when assigned") {
			t.Errorf("error %q does not hint at the assignment", err)
		}
	})
	t.Run("ErrObjectForbidden/UnassignedCase", func(t *testing.T) {
		_, err := lc.Check(inv, "investigating", "", submit)
		wantCode(t, err, EObjectForbidden, "")
	})
	t.Run("ErrObjectForbidden/InvestigatorTakesSomeoneElsesOpenCase", func(t *testing.T) {
		_, err := lc.Check(inv, "open", "token:other", TransitionInput{To: "investigating", Assignee: inv.ID})
		wantCode(t, err, EObjectForbidden, "")
	})
	t.Run("ErrForbidden/SupervisorSubmits", func(t *testing.T) {
		_, err := lc.Check(sup, "investigating", sup.ID, submit)
		wantCode(t, err, EForbidden, "")
	})
	t.Run("OK/AnyInvestigatorRecordsAppeal", func(t *testing.T) {
		in := validInput(t, "enforcement", "appealed", "")
		if _, err := lc.Check(inv, "enforcement", "token:other", in); err != nil {
			t.Fatalf("Check = %v", err)
		}
	})
}

func TestCheckRequiredFields(t *testing.T) {
	lc := MustDefaultLifecycle()
	for _, e := range wantEdges {
		actor := Actor{ID: "token:a", Role: e.actors[0].role}
		for _, f := range e.requires {
			for _, blank := range []string{"", "   ", "\n\t"} {
				name := fmt.Sprintf("ErrInvalid/%s->%s/%s=%q", e.from, e.to, f, blank)
				t.Run(name, func(t *testing.T) {
					in := validInput(t, e.from, e.to, actor.ID)
					if _, err := lc.Check(actor, e.from, actor.ID, in); err != nil {
						t.Fatalf("valid input refused: %v", err)
					}
					blankField(t, &in, f, blank)
					tr, err := lc.Check(actor, e.from, actor.ID, in)
					if tr != nil {
						t.Errorf("returned a transition with an error")
					}
					wantCode(t, err, EInvalid, f)
				})
			}
		}
	}
}

func TestCheckResolutions(t *testing.T) {
	lc := MustDefaultLifecycle()
	var all []string
	for _, e := range wantEdges {
		all = append(all, e.resolutions...)
	}
	all = append(all, "", "bogus", "Duplicate", " duplicate")
	sup := Actor{ID: "token:sup", Role: RoleSupervisor}
	for _, e := range wantEdges {
		if len(e.resolutions) == 0 {
			continue
		}
		for _, r := range all {
			in := validInput(t, e.from, e.to, sup.ID)
			in.Resolution = r
			_, err := lc.Check(sup, e.from, sup.ID, in)
			if slices.Contains(e.resolutions, r) {
				if err != nil {
					t.Errorf("%s->%s resolution %q: Check = %v, want OK", e.from, e.to, r, err)
				}
				continue
			}
			var de *Error
			if !errors.As(err, &de) || de.Code != EInvalid || de.Field != FieldResolution {
				t.Errorf("%s->%s resolution %q: Check = %v, want invalid resolution", e.from, e.to, r, err)
			}
		}
	}
}

func TestCheckEnforcementAction(t *testing.T) {
	lc := MustDefaultLifecycle()
	cases := []struct {
		name string
		act  *EnforcementAction
		ok   bool
	}{
		{"OK/Warning", &EnforcementAction{Type: "warning"}, true},
		{"OK/WarningWithNote", &EnforcementAction{Type: "warning", Note: "first offence"}, true},
		{"OK/Suspension", &EnforcementAction{Type: "suspension"}, true},
		{"OK/Revocation", &EnforcementAction{Type: "revocation"}, true},
		{"OK/Fine", &EnforcementAction{Type: "fine", Amount: 1, Currency: "EUR"}, true},
		{"OK/FineUSD", &EnforcementAction{Type: "fine", Amount: 1_000_000_00, Currency: "USD"}, true},
		{"ErrInvalid/Nil", nil, false},
		{"ErrInvalid/EmptyType", &EnforcementAction{}, false},
		{"ErrInvalid/UnknownType", &EnforcementAction{Type: "ban"}, false},
		{"ErrInvalid/TypeCase", &EnforcementAction{Type: "Fine", Amount: 1, Currency: "EUR"}, false},
		{"ErrInvalid/FineZeroAmount", &EnforcementAction{Type: "fine", Currency: "EUR"}, false},
		{"ErrInvalid/FineNegativeAmount", &EnforcementAction{Type: "fine", Amount: -100, Currency: "EUR"}, false},
		{"ErrInvalid/FineNoCurrency", &EnforcementAction{Type: "fine", Amount: 100}, false},
		{"ErrInvalid/FineLowercaseCurrency", &EnforcementAction{Type: "fine", Amount: 100, Currency: "eur"}, false},
		{"ErrInvalid/FineFourLetterCurrency", &EnforcementAction{Type: "fine", Amount: 100, Currency: "EURO"}, false},
		{"ErrInvalid/FineTwoLetterCurrency", &EnforcementAction{Type: "fine", Amount: 100, Currency: "EU"}, false},
		{"ErrInvalid/FineDigitCurrency", &EnforcementAction{Type: "fine", Amount: 100, Currency: "E1R"}, false},
		{"ErrInvalid/FineCurrencyNewline", &EnforcementAction{Type: "fine", Amount: 100, Currency: "EUR\n"}, false},
		{"ErrInvalid/WarningWithAmount", &EnforcementAction{Type: "warning", Amount: 100}, false},
		{"ErrInvalid/WarningWithCurrency", &EnforcementAction{Type: "warning", Currency: "EUR"}, false},
		{"ErrInvalid/SuspensionWithAmount", &EnforcementAction{Type: "suspension", Amount: 5, Currency: "EUR"}, false},
		{"ErrInvalid/RevocationWithNegativeAmount", &EnforcementAction{Type: "revocation", Amount: -1}, false},
	}
	edges := []struct {
		from, to, field string
		actor           Actor
		set             func(*TransitionInput, *EnforcementAction)
	}{
		{"investigating", "pending_decision", FieldProposedAction, Actor{ID: "token:inv", Role: RoleInvestigator},
			func(in *TransitionInput, a *EnforcementAction) { in.ProposedAction = a }},
		{"pending_decision", "enforcement", FieldAction, Actor{ID: "token:sup", Role: RoleSupervisor},
			func(in *TransitionInput, a *EnforcementAction) { in.Action = a }},
	}
	for _, e := range edges {
		for _, c := range cases {
			t.Run(e.field+"/"+c.name, func(t *testing.T) {
				in := validInput(t, e.from, e.to, e.actor.ID)
				e.set(&in, c.act)
				_, err := lc.Check(e.actor, e.from, e.actor.ID, in)
				if c.ok {
					if err != nil {
						t.Fatalf("Check = %v, want OK", err)
					}
					return
				}
				wantCode(t, err, EInvalid, e.field)
			})
		}
	}
}

func TestCheckTextLength(t *testing.T) {
	lc := MustDefaultLifecycle()
	// "é" is two bytes: 4000 of them are 8000 bytes, so a byte count would
	// reject the OK case.
	ok := strings.Repeat("é", 4000)
	long := strings.Repeat("é", 4001)
	for _, e := range wantEdges {
		actor := Actor{ID: "token:a", Role: e.actors[0].role}
		for _, f := range e.requires {
			if f == FieldProposedAction || f == FieldAction || f == FieldResolution {
				continue
			}
			for _, v := range []struct {
				name, val string
				ok        bool
			}{{"OK", ok, true}, {"ErrInvalid", long, false}} {
				t.Run(fmt.Sprintf("%s/%s->%s/%s", v.name, e.from, e.to, f), func(t *testing.T) {
					in := validInput(t, e.from, e.to, actor.ID)
					blankField(t, &in, f, v.val)
					_, err := lc.Check(actor, e.from, actor.ID, in)
					if v.ok {
						if err != nil {
							t.Fatalf("Check = %v, want OK", err)
						}
						return
					}
					wantCode(t, err, EInvalid, f)
				})
			}
		}
	}
}

func TestAvailable(t *testing.T) {
	lc := MustDefaultLifecycle()
	const me = "token:me"
	for _, from := range wantStates {
		for _, role := range Roles {
			for _, caseAssignee := range []string{me, "token:other", ""} {
				actor := Actor{ID: me, Role: role}
				var got []string
				for _, tr := range lc.Available(actor, from, caseAssignee) {
					if tr.From != from {
						t.Errorf("Available(%s, %s) returned an edge from %s", role, from, tr.From)
					}
					got = append(got, tr.From+"->"+tr.To)
				}
				var want []string
				for _, to := range wantStates {
					owner := map[string]caseOwner{me: ownerMine, "token:other": ownerOther, "": ownerNobody}[caseAssignee]
					if wantAllowed(from, to, role, owner) {
						want = append(want, from+"->"+to)
					}
				}
				slices.Sort(got)
				slices.Sort(want)
				if !slices.Equal(got, want) {
					t.Errorf("Available(%s, %s, assignee=%q) = %v, want %v", role, from, caseAssignee, got, want)
				}
			}
		}
	}
}

func TestAvailableNoneForNonCaseWorkers(t *testing.T) {
	lc := MustDefaultLifecycle()
	for _, role := range []Role{RoleAnonymous, RoleAuditor, RoleAdmin, RoleIntake, "", "root"} {
		for _, from := range wantStates {
			for _, assignee := range []string{"token:me", ""} {
				if got := lc.Available(Actor{ID: "token:me", Role: role}, from, assignee); len(got) != 0 {
					t.Errorf("Available(%q, %s) = %v, want none", role, from, got)
				}
			}
		}
	}
}

func TestAvailableHonoursMatrix(t *testing.T) {
	// A custom lifecycle may name any staff role, but Available offers
	// nothing to a role the matrix refuses case.transition.
	data := mutateLifecycle(t, func(lc *Lifecycle) {
		e := edgeOf(t, lc, "enforcement", "appealed")
		e.Actors = append(e.Actors, LifecycleActor{Role: RoleAuditor}, LifecycleActor{Role: RoleIntake})
	})
	lc, err := ParseLifecycle(data)
	if err != nil {
		t.Fatalf("ParseLifecycle = %v", err)
	}
	for _, role := range []Role{RoleAuditor, RoleIntake} {
		if got := lc.Available(Actor{ID: "token:x", Role: role}, "enforcement", ""); len(got) != 0 {
			t.Errorf("Available(%s) = %v, want none: the matrix refuses %s", role, got, ActCaseTransition)
		}
	}
	if got := lc.Available(Actor{ID: "token:x", Role: RoleInvestigator}, "enforcement", ""); len(got) != 1 {
		t.Errorf("Available(investigator) = %v, want enforcement -> appealed", got)
	}
}

func TestAvailableAgreesWithCheck(t *testing.T) {
	lc := MustDefaultLifecycle()
	const me = "token:me"
	for _, from := range wantStates {
		for _, role := range Roles {
			for _, caseAssignee := range []string{me, "token:other"} {
				actor := Actor{ID: me, Role: role}
				avail := map[string]bool{}
				for _, tr := range lc.Available(actor, from, caseAssignee) {
					avail[tr.To] = true
				}
				for _, to := range wantStates {
					_, err := lc.Check(actor, from, caseAssignee, validInput(t, from, to, me))
					if got, want := err == nil, avail[to]; got != want {
						t.Errorf("%s %s->%s assignee=%s: Check ok=%v (%v) but Available lists it=%v", role, from, to, caseAssignee, got, err, want)
					}
				}
			}
		}
	}
}

// mutateLifecycle decodes the default lifecycle, applies fn and re-encodes it.
func mutateLifecycle(tb testing.TB, fn func(*Lifecycle)) []byte {
	tb.Helper()
	var lc Lifecycle
	if err := json.Unmarshal(DefaultLifecycleJSON(), &lc); err != nil {
		tb.Fatalf("decode default lifecycle: %v", err)
	}
	fn(&lc)
	b, err := json.Marshal(&lc)
	if err != nil {
		tb.Fatalf("encode lifecycle: %v", err)
	}
	return b
}

// mutateRaw decodes the default lifecycle into generic JSON, applies fn and
// re-encodes it (for fields the Lifecycle type cannot carry).
func mutateRaw(tb testing.TB, fn func(map[string]any)) []byte {
	tb.Helper()
	var m map[string]any
	if err := json.Unmarshal(DefaultLifecycleJSON(), &m); err != nil {
		tb.Fatalf("decode default lifecycle: %v", err)
	}
	fn(m)
	b, err := json.Marshal(m)
	if err != nil {
		tb.Fatalf("encode lifecycle: %v", err)
	}
	return b
}

func edgeOf(tb testing.TB, lc *Lifecycle, from, to string) *Transition {
	tb.Helper()
	t := lc.Find(from, to)
	if t == nil {
		tb.Fatalf("default lifecycle has no %s -> %s", from, to)
	}
	return t
}

func TestParseLifecycle(t *testing.T) {
	t.Run("OK/RoundTrip", func(t *testing.T) {
		lc, err := ParseLifecycle(mutateLifecycle(t, func(*Lifecycle) {}))
		if err != nil {
			t.Fatalf("ParseLifecycle(round-tripped default) = %v", err)
		}
		if got, want := len(lc.Transitions), len(wantEdges); got != want {
			t.Fatalf("%d transitions, want %d", got, want)
		}
	})
	t.Run("OK/RawRoundTrip", func(t *testing.T) {
		if _, err := ParseLifecycle(mutateRaw(t, func(map[string]any) {})); err != nil {
			t.Fatalf("ParseLifecycle(round-tripped default) = %v", err)
		}
	})

	cases := []struct {
		name string
		data func(tb testing.TB) []byte
		want []string // substrings the error must contain
	}{
		{"ErrUnknownFromState", func(tb testing.TB) []byte {
			return mutateLifecycle(tb, func(lc *Lifecycle) { edgeOf(tb, lc, "open", "closed").From = "draft" })
		}, []string{"draft -> closed", "unknown from-state"}},
		{"ErrUnknownToState", func(tb testing.TB) []byte {
			return mutateLifecycle(tb, func(lc *Lifecycle) { edgeOf(tb, lc, "open", "closed").To = "archived" })
		}, []string{"open -> archived", "unknown to-state"}},
		{"ErrUnknownRole", func(tb testing.TB) []byte {
			return mutateLifecycle(tb, func(lc *Lifecycle) { edgeOf(tb, lc, "open", "closed").Actors[0].Role = "root" })
		}, []string{"open -> closed", `unknown role "root"`}},
		{"ErrAnonymousRole", func(tb testing.TB) []byte {
			return mutateLifecycle(tb, func(lc *Lifecycle) {
				e := edgeOf(tb, lc, "enforcement", "appealed")
				e.Actors = append(e.Actors, LifecycleActor{Role: RoleAnonymous})
			})
		}, []string{"enforcement -> appealed", `unknown role "anonymous"`}},
		{"ErrUnknownField", func(tb testing.TB) []byte {
			return mutateLifecycle(tb, func(lc *Lifecycle) {
				e := edgeOf(tb, lc, "pending_decision", "investigating")
				e.Requires = append(e.Requires, "colour")
			})
		}, []string{"pending_decision -> investigating", `unknown field "colour"`}},
		{"ErrUnknownConstraint", func(tb testing.TB) []byte {
			return mutateLifecycle(tb, func(lc *Lifecycle) {
				edgeOf(tb, lc, "investigating", "pending_decision").Actors[0].Constraint = "owner"
			})
		}, []string{"investigating -> pending_decision", `unknown constraint "owner"`}},
		{"ErrDuplicateEdge", func(tb testing.TB) []byte {
			return mutateLifecycle(tb, func(lc *Lifecycle) {
				lc.Transitions = append(lc.Transitions, Transition{From: "open", To: "investigating",
					Requires: []string{"assignee"}, Actors: []LifecycleActor{{Role: RoleSupervisor}}})
			})
		}, []string{"open -> investigating", "defined twice"}},
		{"ErrSelfLoop", func(tb testing.TB) []byte {
			return mutateLifecycle(tb, func(lc *Lifecycle) {
				lc.Transitions = append(lc.Transitions, Transition{From: "investigating", To: "investigating",
					Requires: []string{"reason"}, Actors: []LifecycleActor{{Role: RoleSupervisor}}})
			})
		}, []string{"investigating -> investigating", "must change state"}},
		{"ErrInitialNotAState", func(tb testing.TB) []byte {
			return mutateLifecycle(tb, func(lc *Lifecycle) { lc.Initial = "draft" })
		}, []string{`initial state "draft" is not a state`}},
		{"ErrInitialEmpty", func(tb testing.TB) []byte {
			return mutateLifecycle(tb, func(lc *Lifecycle) { lc.Initial = "" })
		}, []string{`initial state "" is not a state`}},
		{"ErrUnreachableState", func(tb testing.TB) []byte {
			return mutateLifecycle(tb, func(lc *Lifecycle) {
				lc.States = append(lc.States, LifecycleState{Name: "limbo"})
				lc.Transitions = append(lc.Transitions, Transition{From: "limbo", To: "open",
					Requires: []string{"reason"}, Actors: []LifecycleActor{{Role: RoleSupervisor}}})
			})
		}, []string{`state "limbo" is unreachable from "open"`}},
		{"ErrUnreachableAfterEdgeRemoved", func(tb testing.TB) []byte {
			return mutateLifecycle(tb, func(lc *Lifecycle) {
				lc.Transitions = slices.DeleteFunc(lc.Transitions, func(t Transition) bool {
					return t.From == "enforcement" && t.To == "appealed"
				})
			})
		}, []string{`state "appealed" is unreachable`}},
		{"ErrNoWayOut", func(tb testing.TB) []byte {
			return mutateLifecycle(tb, func(lc *Lifecycle) {
				lc.Transitions = slices.DeleteFunc(lc.Transitions, func(t Transition) bool { return t.From == "appealed" })
			})
		}, []string{`state "appealed" is not final and has no way out`}},
		{"ErrFinalWithoutResolution", func(tb testing.TB) []byte {
			return mutateLifecycle(tb, func(lc *Lifecycle) {
				e := edgeOf(tb, lc, "pending_decision", "closed")
				e.Requires, e.Resolutions = []string{"reason"}, nil
			})
		}, []string{"pending_decision -> closed", "entering a final state needs a resolution"}},
		{"ErrResolutionIntoNonFinal", func(tb testing.TB) []byte {
			return mutateLifecycle(tb, func(lc *Lifecycle) {
				e := edgeOf(tb, lc, "pending_decision", "investigating")
				e.Requires, e.Resolutions = append(e.Requires, "resolution"), []string{"sent_back"}
			})
		}, []string{"pending_decision -> investigating", "needs a resolution, and only then"}},
		{"ErrResolutionsMissing", func(tb testing.TB) []byte {
			return mutateLifecycle(tb, func(lc *Lifecycle) { edgeOf(tb, lc, "open", "closed").Resolutions = nil })
		}, []string{"open -> closed", "requires a resolution but lists none"}},
		{"ErrSelfAssignWithoutAssignee", func(tb testing.TB) []byte {
			return mutateLifecycle(tb, func(lc *Lifecycle) { edgeOf(tb, lc, "open", "investigating").Requires = nil })
		}, []string{"open -> investigating", "self_assign needs the assignee field"}},
		{"ErrSelfAssignOnOtherEdge", func(tb testing.TB) []byte {
			return mutateLifecycle(tb, func(lc *Lifecycle) {
				edgeOf(tb, lc, "enforcement", "appealed").Actors[0].Constraint = ConstraintSelfAssign
			})
		}, []string{"enforcement -> appealed", "self_assign needs the assignee field"}},
		{"ErrNoActors", func(tb testing.TB) []byte {
			return mutateLifecycle(tb, func(lc *Lifecycle) { edgeOf(tb, lc, "appealed", "enforcement").Actors = nil })
		}, []string{"appealed -> enforcement", "no actor may take it"}},
		{"ErrNoStates", func(tb testing.TB) []byte {
			return mutateLifecycle(tb, func(lc *Lifecycle) { lc.States = nil })
		}, []string{"no states"}},
		{"ErrUnnamedState", func(tb testing.TB) []byte {
			return mutateLifecycle(tb, func(lc *Lifecycle) { lc.States = append(lc.States, LifecycleState{}) })
		}, []string{"a state has no name"}},
		{"ErrDuplicateState", func(tb testing.TB) []byte {
			return mutateLifecycle(tb, func(lc *Lifecycle) {
				lc.States = append(lc.States, LifecycleState{Name: "appealed", Final: true})
			})
		}, []string{`state "appealed" defined twice`}},
		{"ErrUnknownTopLevelJSONField", func(tb testing.TB) []byte {
			return mutateRaw(tb, func(m map[string]any) { m["version"] = 2 })
		}, []string{"decode", `unknown field "version"`}},
		{"ErrUnknownTransitionJSONField", func(tb testing.TB) []byte {
			return mutateRaw(tb, func(m map[string]any) {
				m["transitions"].([]any)[0].(map[string]any)["guard"] = "x"
			})
		}, []string{"decode", `unknown field "guard"`}},
		{"ErrUnknownStateJSONField", func(tb testing.TB) []byte {
			return mutateRaw(tb, func(m map[string]any) {
				m["states"].([]any)[0].(map[string]any)["terminal"] = true
			})
		}, []string{"decode", `unknown field "terminal"`}},
		{"ErrUnknownActorJSONField", func(tb testing.TB) []byte {
			return mutateRaw(tb, func(m map[string]any) {
				tr := m["transitions"].([]any)[0].(map[string]any)
				tr["actors"].([]any)[0].(map[string]any)["team"] = "north"
			})
		}, []string{"decode", `unknown field "team"`}},
		{"ErrWrongType", func(tb testing.TB) []byte {
			return mutateRaw(tb, func(m map[string]any) { m["initial"] = 1 })
		}, []string{"decode"}},
		{"ErrNotJSON", func(testing.TB) []byte { return []byte("states: [open]") }, []string{"decode"}},
		{"ErrEmpty", func(testing.TB) []byte { return nil }, []string{"decode"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			lc, err := ParseLifecycle(c.data(t))
			if err == nil {
				t.Fatalf("ParseLifecycle accepted it, want an error mentioning %q", c.want)
			}
			if lc != nil {
				t.Errorf("ParseLifecycle returned a lifecycle with an error")
			}
			for _, w := range c.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not mention %q", err, w)
				}
			}
		})
	}
}
