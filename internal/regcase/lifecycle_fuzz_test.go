package regcase

import (
	"bytes"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// The fuzz input is a sequence of 4-byte steps:
//
//	[0] role:    Roles[b % len(Roles)]
//	[1] actor:   fuzzActors[b % len(fuzzActors)]
//	[2] target:  state b % (len(states)+1); the extra value is an unknown state
//	[3] fields:  bits 0-1 assignee (0 the actor, 1 alice, 2 bob, 3 empty);
//	             bit 2 blank every text field; bit 3 invalid enforcement action;
//	             bits 4-6 resolution index into fuzzResolutions;
//	             bit 7 resolution "bogus" instead.
//
// A trailing partial step is ignored.
const fuzzStepLen = 4

var (
	fuzzActors      = []string{"token:alice", "token:bob", "token:carol"}
	fuzzResolutions = []string{"no_violation", "insufficient_evidence", "referred", "overturned_on_appeal",
		"complied", "action_completed", "duplicate", "out_of_scope"}
)

// fuzzStep is one decoded step.
type fuzzStep struct {
	actor Actor
	in    TransitionInput
}

func decodeFuzzStep(lc *Lifecycle, b []byte) fuzzStep {
	role := Roles[int(b[0])%len(Roles)]
	id := fuzzActors[int(b[1])%len(fuzzActors)]
	states := lc.StateNames()
	to := "nowhere"
	if i := int(b[2]) % (len(states) + 1); i < len(states) {
		to = states[i]
	}
	f := b[3]
	in := TransitionInput{To: to}
	switch f & 3 {
	case 0:
		in.Assignee = id
	case 1:
		in.Assignee = "token:alice"
	case 2:
		in.Assignee = "token:bob"
	}
	text := "text"
	if f&4 != 0 {
		text = " "
	}
	in.Findings, in.Reason, in.AppealReference, in.Decision = text, text, text, text
	act := &EnforcementAction{Type: "fine", Amount: 100, Currency: "EUR"}
	if f&8 != 0 {
		act = &EnforcementAction{Type: "warning", Amount: 100}
	}
	in.ProposedAction, in.Action = act, act
	in.Resolution = fuzzResolutions[int(f>>4)&7]
	if f&0x80 != 0 {
		in.Resolution = "bogus"
	}
	return fuzzStep{actor: Actor{ID: id, Role: role}, in: in}
}

// encodeFuzzStep is decodeFuzzStep's inverse for seeds.
func encodeFuzzStep(lc *Lifecycle, role Role, actor int, to string, assignee, resolution int) []byte {
	r := slices.Index(Roles, role)
	s := slices.Index(lc.StateNames(), to)
	if r < 0 || s < 0 {
		panic("encodeFuzzStep: unknown role or state")
	}
	return []byte{byte(r), byte(actor), byte(s), byte(assignee&3) | byte(resolution&7)<<4}
}

// fuzzHistoryEntry records one accepted transition.
type fuzzHistoryEntry struct {
	From, To, By, Resolution string
}

// fuzzCase is the in-memory case the fuzz test drives.
type fuzzCase struct {
	State      string
	Assignee   string
	Resolution string
	Closed     bool
	History    []fuzzHistoryEntry
}

func (c fuzzCase) clone() fuzzCase {
	c.History = slices.Clone(c.History)
	return c
}

func (c fuzzCase) equal(o fuzzCase) bool {
	return c.State == o.State && c.Assignee == o.Assignee && c.Resolution == o.Resolution &&
		c.Closed == o.Closed && slices.Equal(c.History, o.History)
}

// apply performs one step on c using only lc.Check and reports whether it
// was accepted.
func (c *fuzzCase) apply(lc *Lifecycle, s fuzzStep) (*Transition, error) {
	t, err := lc.Check(s.actor, c.State, c.Assignee, s.in)
	if err != nil {
		return nil, err
	}
	if slices.Contains(t.Requires, FieldAssignee) {
		c.Assignee = s.in.Assignee
	}
	if lc.IsFinal(t.To) {
		c.Resolution, c.Closed = s.in.Resolution, true
	} else {
		c.Resolution, c.Closed = "", false
	}
	c.History = append(c.History, fuzzHistoryEntry{From: t.From, To: t.To, By: s.actor.ID, Resolution: c.Resolution})
	c.State = t.To
	return t, nil
}

// runFuzzSequence drives a case through data and checks the invariants after
// every step; it returns the final case.
func runFuzzSequence(tb testing.TB, lc *Lifecycle, data []byte) fuzzCase {
	tb.Helper()
	c := fuzzCase{State: lc.Initial}
	for i := 0; i+fuzzStepLen <= len(data); i += fuzzStepLen {
		s := decodeFuzzStep(lc, data[i:i+fuzzStepLen])
		before := c.clone()
		avail := lc.Available(s.actor, before.State, before.Assignee)

		t, err := c.apply(lc, s)
		if err != nil {
			if t != nil {
				tb.Fatalf("step %d: Check returned a transition with error %v", i/fuzzStepLen, err)
			}
			switch code := ErrorCodeOf(err); code {
			case EInvalid, EConflict, EForbidden, EObjectForbidden:
			default:
				tb.Fatalf("step %d: Check error %v has code %q", i/fuzzStepLen, err, code)
			}
			if !c.equal(before) {
				tb.Fatalf("step %d: refused action (%v) changed the case: %+v -> %+v", i/fuzzStepLen, err, before, c)
			}
		} else {
			if t.From != before.State || t.To != s.in.To {
				tb.Fatalf("step %d: Check(%s -> %s) returned edge %s -> %s", i/fuzzStepLen, before.State, s.in.To, t.From, t.To)
			}
			if !slices.ContainsFunc(avail, func(a Transition) bool { return a.From == t.From && a.To == t.To }) {
				tb.Fatalf("step %d: %s moved the case %s -> %s, which Available did not offer (%v)",
					i/fuzzStepLen, s.actor, t.From, t.To, avail)
			}
			for _, la := range t.Actors {
				if la.Role == s.actor.Role && la.Constraint == ConstraintAssignee &&
					!slices.ContainsFunc(t.Actors, func(o LifecycleActor) bool { return o.Role == s.actor.Role && o.Constraint == ConstraintNone }) &&
					(before.Assignee == "" || before.Assignee != s.actor.ID) {
					tb.Fatalf("step %d: %s took %s -> %s on a case assigned to %q", i/fuzzStepLen, s.actor, t.From, t.To, before.Assignee)
				}
			}
			if got, want := len(c.History), len(before.History)+1; got != want {
				tb.Fatalf("step %d: history has %d entries after an accepted transition, want %d", i/fuzzStepLen, got, want)
			}
		}
		if !slices.Equal(c.History[:len(before.History)], before.History) {
			tb.Fatalf("step %d: history was rewritten: %v -> %v", i/fuzzStepLen, before.History, c.History)
		}
		checkFuzzCase(tb, lc, c, i/fuzzStepLen)

		// Every edge Available offers is accepted by Check with valid fields.
		for _, a := range avail {
			in := TransitionInput{To: a.To, Assignee: s.actor.ID, Findings: "f", Reason: "r",
				AppealReference: "a", Decision: "d", ProposedAction: &EnforcementAction{Type: "warning"},
				Action: &EnforcementAction{Type: "warning"}}
			if len(a.Resolutions) > 0 {
				in.Resolution = a.Resolutions[len(a.Resolutions)-1]
			}
			if _, err := lc.Check(s.actor, before.State, before.Assignee, in); err != nil {
				tb.Fatalf("step %d: Available offered %s -> %s to %s but Check refused valid input: %v",
					i/fuzzStepLen, a.From, a.To, s.actor, err)
			}
		}
	}
	return c
}

func checkFuzzCase(tb testing.TB, lc *Lifecycle, c fuzzCase, step int) {
	tb.Helper()
	if !lc.IsState(c.State) {
		tb.Fatalf("step %d: case is in %q, not a lifecycle state", step, c.State)
	}
	if lc.IsFinal(c.State) {
		if c.Resolution == "" || !c.Closed {
			tb.Fatalf("step %d: case in final state %s has resolution %q closed=%v", step, c.State, c.Resolution, c.Closed)
		}
	} else if c.Resolution != "" || c.Closed {
		tb.Fatalf("step %d: case in %s has resolution %q closed=%v", step, c.State, c.Resolution, c.Closed)
	}
	prev := lc.Initial
	for j, h := range c.History {
		if h.From != prev {
			tb.Fatalf("step %d: history entry %d starts at %s, the case was in %s", step, j, h.From, prev)
		}
		if lc.Find(h.From, h.To) == nil {
			tb.Fatalf("step %d: history entry %d is not an edge: %s -> %s", step, j, h.From, h.To)
		}
		prev = h.To
	}
	if prev != c.State {
		tb.Fatalf("step %d: history ends in %s, the case is in %s", step, prev, c.State)
	}
}

// fuzzHappyPath is open -> investigating -> pending_decision -> enforcement
// -> appealed -> closed -> investigating.
func fuzzHappyPath(lc *Lifecycle) []byte {
	const alice, bob, carol = 0, 1, 2
	return slices.Concat(
		encodeFuzzStep(lc, RoleSupervisor, alice, "investigating", 2, 0), // assign bob
		encodeFuzzStep(lc, RoleInvestigator, bob, "pending_decision", 0, 0),
		encodeFuzzStep(lc, RoleSupervisor, alice, "enforcement", 0, 0),
		encodeFuzzStep(lc, RoleInvestigator, carol, "appealed", 0, 0),
		encodeFuzzStep(lc, RoleSupervisor, alice, "closed", 0, 3), // overturned_on_appeal
		encodeFuzzStep(lc, RoleSupervisor, alice, "investigating", 0, 0),
	)
}

func fuzzSeeds(lc *Lifecycle) [][]byte {
	const alice, bob, carol = 0, 1, 2
	return [][]byte{
		fuzzHappyPath(lc),
		// Self-assign, submit, sent back, resubmit, closed with no_violation.
		slices.Concat(
			encodeFuzzStep(lc, RoleInvestigator, carol, "investigating", 0, 0),
			encodeFuzzStep(lc, RoleInvestigator, carol, "pending_decision", 0, 0),
			encodeFuzzStep(lc, RoleSupervisor, alice, "investigating", 0, 0),
			encodeFuzzStep(lc, RoleInvestigator, carol, "pending_decision", 0, 0),
			encodeFuzzStep(lc, RoleSupervisor, alice, "closed", 0, 0),
		),
		// Refusals: anonymous, wrong investigator, self-assigning someone else,
		// bad resolution, then duplicate closure.
		slices.Concat(
			encodeFuzzStep(lc, RoleAnonymous, alice, "investigating", 0, 0),
			encodeFuzzStep(lc, RoleInvestigator, bob, "investigating", 1, 0),
			encodeFuzzStep(lc, RoleSupervisor, alice, "closed", 0, 0),
			encodeFuzzStep(lc, RoleSupervisor, alice, "closed", 0, 6),
			encodeFuzzStep(lc, RoleSupervisor, alice, "closed", 0, 6),
		),
		// Enforcement closed as complied, then reopened.
		slices.Concat(
			encodeFuzzStep(lc, RoleSupervisor, alice, "investigating", 1, 0),
			encodeFuzzStep(lc, RoleInvestigator, alice, "pending_decision", 0, 0),
			encodeFuzzStep(lc, RoleSupervisor, bob, "enforcement", 0, 0),
			encodeFuzzStep(lc, RoleSupervisor, bob, "closed", 0, 4),
			encodeFuzzStep(lc, RoleSupervisor, bob, "investigating", 0, 0),
		),
		{},
		{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff},
	}
}

func TestFuzzSeeds(t *testing.T) {
	lc := MustDefaultLifecycle()
	seeds := fuzzSeeds(lc)

	t.Run("OK/HappyPath", func(t *testing.T) {
		c := runFuzzSequence(t, lc, seeds[0])
		var got []string
		for _, h := range c.History {
			got = append(got, h.To)
		}
		want := []string{"investigating", "pending_decision", "enforcement", "appealed", "closed", "investigating"}
		if !slices.Equal(got, want) {
			t.Fatalf("happy path visited %v, want %v", got, want)
		}
		if got, want := c.History[4].Resolution, "overturned_on_appeal"; got != want {
			t.Errorf("closure resolution = %q, want %q", got, want)
		}
		if got, want := c.Assignee, "token:bob"; got != want {
			t.Errorf("assignee = %q, want %q", got, want)
		}
		if c.Closed || c.Resolution != "" {
			t.Errorf("reopened case has closed=%v resolution=%q", c.Closed, c.Resolution)
		}
	})
	t.Run("OK/SentBack", func(t *testing.T) {
		c := runFuzzSequence(t, lc, seeds[1])
		if got, want := len(c.History), 5; got != want {
			t.Fatalf("%d accepted transitions, want %d: %+v", got, want, c.History)
		}
		if got, want := c.Resolution, "no_violation"; got != want {
			t.Errorf("resolution = %q, want %q", got, want)
		}
	})
	t.Run("OK/Refusals", func(t *testing.T) {
		c := runFuzzSequence(t, lc, seeds[2])
		want := []fuzzHistoryEntry{{From: "open", To: "closed", By: "token:alice", Resolution: "duplicate"}}
		if !slices.Equal(c.History, want) {
			t.Fatalf("history = %+v, want %+v", c.History, want)
		}
	})
	t.Run("OK/Reopened", func(t *testing.T) {
		c := runFuzzSequence(t, lc, seeds[3])
		if got, want := len(c.History), 5; got != want {
			t.Fatalf("%d accepted transitions, want %d: %+v", got, want, c.History)
		}
	})
}

// TestFuzzCorpusSeeds keeps the committed corpus files for the named seeds in
// step with fuzzSeeds, so the corpus exercises what its names claim.
func TestFuzzCorpusSeeds(t *testing.T) {
	lc := MustDefaultLifecycle()
	seeds := fuzzSeeds(lc)
	for name, want := range map[string][]byte{
		"seed-happy-path":                    seeds[0],
		"seed-sent-back":                     seeds[1],
		"seed-refusals":                      seeds[2],
		"seed-enforcement-complied-reopened": seeds[3],
	} {
		t.Run("OK/"+name, func(t *testing.T) {
			raw, err := os.ReadFile(filepath.Join("testdata", "fuzz", "FuzzLifecycle", name))
			if err != nil {
				t.Fatal(err)
			}
			header, body, ok := strings.Cut(strings.TrimSpace(string(raw)), "\n")
			if !ok || header != "go test fuzz v1" || !strings.HasPrefix(body, "[]byte(") || !strings.HasSuffix(body, ")") {
				t.Fatalf("%s is not a go fuzz corpus file: %q", name, raw)
			}
			got, err := strconv.Unquote(strings.TrimSuffix(strings.TrimPrefix(body, "[]byte("), ")"))
			if err != nil {
				t.Fatalf("%s: %v", name, err)
			}
			if !bytes.Equal([]byte(got), want) {
				t.Fatalf("%s = %x, want %x", name, got, want)
			}
		})
	}
}

func FuzzLifecycle(f *testing.F) {
	lc := MustDefaultLifecycle()
	for _, s := range fuzzSeeds(lc) {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		if len(data) > 4096 {
			return
		}
		runFuzzSequence(t, lc, data)
	})
}
