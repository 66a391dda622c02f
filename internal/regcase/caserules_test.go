package regcase

import (
	"fmt"
	"strings"
	"testing"
)

// objectRow is one object-level row of the intended policy: may role take
// act on a case that is the caller's, someone else's, or nobody's? A role
// the matrix refuses is refused whatever the owner.
type objectRow struct {
	act                 Action
	role                Role
	mine, other, nobody bool
}

// objectPolicy is written out cell by cell, not derived from the lifecycle.
func objectPolicy() []objectRow {
	const (
		Y = true
		N = false
	)
	var rows []objectRow
	for _, act := range []Action{ActCaseUpdate, ActCaseAssign, ActCaseSLA} {
		rows = append(rows,
			objectRow{act, RoleInvestigator, Y, N, Y},
			objectRow{act, RoleSupervisor, Y, Y, Y},
			objectRow{act, RoleIntake, N, N, N},
			objectRow{act, RoleAuditor, N, N, N},
			objectRow{act, RoleAdmin, N, N, N},
			objectRow{act, RoleAnonymous, N, N, N},
		)
	}
	rows = append(rows,
		objectRow{ActCaseLowerPriority, RoleInvestigator, N, N, N},
		objectRow{ActCaseLowerPriority, RoleSupervisor, Y, Y, Y},
		objectRow{ActCaseLowerPriority, RoleAdmin, N, N, N},
		objectRow{ActCaseLowerPriority, RoleAuditor, N, N, N},
	)
	// The reporter channel: an investigator only on its own or an
	// unassigned case; the other roles the matrix allows on any case.
	for _, act := range []Action{ActCaseMessageRead, ActCaseMessageSend, ActAttachmentRead, ActCaseAttachmentAdd} {
		reads := act == ActCaseMessageRead || act == ActAttachmentRead
		rows = append(rows,
			objectRow{act, RoleInvestigator, Y, N, Y},
			objectRow{act, RoleSupervisor, Y, Y, Y},
			objectRow{act, RoleAuditor, reads, reads, reads},
			objectRow{act, RoleIntake, act == ActAttachmentRead, act == ActAttachmentRead, act == ActAttachmentRead},
			objectRow{act, RoleAdmin, N, N, N},
			objectRow{act, RoleAnonymous, N, N, N},
		)
	}
	return rows
}

func TestCaseActionsMatchPolicy(t *testing.T) {
	lc := MustDefaultLifecycle()
	const me = "token:me"
	for _, row := range objectPolicy() {
		a := Actor{ID: me, Role: row.role}
		for _, c := range []struct {
			owner    string
			assignee string
			want     bool
		}{{"mine", me, row.mine}, {"other", "token:other", row.other}, {"nobody", "", row.nobody}} {
			name := fmt.Sprintf("%s/%s/%s", row.act, row.role, c.owner)
			got := lc.CanCaseAction(a, row.act, c.assignee)
			if got != c.want {
				t.Errorf("%s: CanCaseAction = %v, want %v", name, got, c.want)
			}
			if !Can(row.role, row.act) {
				continue // the matrix refuses first, with EForbidden
			}
			err := lc.CheckCaseAction(a, row.act, "CASE-1", c.assignee)
			switch {
			case c.want && err != nil:
				t.Errorf("%s: CheckCaseAction = %v, want nil", name, err)
			case !c.want && row.role == RoleInvestigator && row.act != ActCaseLowerPriority:
				wantCode(t, err, EObjectForbidden, "")
			case !c.want:
				wantCode(t, err, EForbidden, "")
			}
		}
	}
}

func TestCaseActionsParse(t *testing.T) {
	base := string(DefaultLifecycleJSON())
	withRules := func(rules string) []byte {
		start := strings.Index(base, `"case_actions"`)
		end := strings.Index(base, `"transitions"`)
		return []byte(base[:start] + `"case_actions": ` + rules + `,` + "\n  " + base[end:])
	}
	t.Run("OK/AbsentMeansBuiltIn", func(t *testing.T) {
		start := strings.Index(base, `"case_actions"`)
		end := strings.Index(base, `"transitions"`)
		lc, err := ParseLifecycle([]byte(base[:start] + base[end:]))
		if err != nil {
			t.Fatal(err)
		}
		if lc.CaseRule(ActCaseAssign) == nil || lc.CanCaseAction(Actor{ID: "token:me", Role: RoleInvestigator}, ActCaseAssign, "token:other") {
			t.Errorf("a lifecycle without case_actions lost the built-in rules: %+v", lc.CaseActions)
		}
	})
	t.Run("OK/EmptyMeansMatrixOnly", func(t *testing.T) {
		lc, err := ParseLifecycle(withRules(`[]`))
		if err != nil {
			t.Fatal(err)
		}
		if !lc.CanCaseAction(Actor{ID: "token:me", Role: RoleInvestigator}, ActCaseAssign, "token:other") {
			t.Errorf("case_actions [] still constrains assignment")
		}
	})
	for name, rules := range map[string]string{
		"UnknownAction":       `[{"action": "case.read", "actors": [{"role": "supervisor"}]}]`,
		"Twice":               `[{"action": "case.sla", "actors": [{"role": "supervisor"}]}, {"action": "case.sla", "actors": [{"role": "supervisor"}]}]`,
		"NoActors":            `[{"action": "case.sla", "actors": []}]`,
		"RoleNotInMatrix":     `[{"action": "case.sla", "actors": [{"role": "auditor"}]}]`,
		"UnknownConstraint":   `[{"action": "case.sla", "actors": [{"role": "investigator", "constraint": "friend"}]}]`,
		"SelfAssignOnAction":  `[{"action": "case.sla", "actors": [{"role": "investigator", "constraint": "self_assign"}]}]`,
		"RoleListedTwice":     `[{"action": "case.sla", "actors": [{"role": "supervisor"}, {"role": "supervisor"}]}]`,
		"LowerByInvestigator": `[{"action": "case.lower_priority", "actors": [{"role": "investigator"}]}]`,
	} {
		t.Run("Err/"+name, func(t *testing.T) {
			if _, err := ParseLifecycle(withRules(rules)); err == nil || !strings.Contains(err.Error(), "case_actions") {
				t.Fatalf("ParseLifecycle = %v, want an error naming case_actions", err)
			}
		})
	}
}
