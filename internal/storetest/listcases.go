package storetest

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/regcase/regcase/internal/regcase"
)

// seedCases stores five cases that each filter tells apart. Opened times
// are day(1) … day(5).
func seedCases(t *testing.T, s regcase.Store) map[string]*regcase.Case {
	t.Helper()
	mk := func(n int, status string, prio regcase.Priority, assignee, cat string, subj regcase.Subject, title string, due time.Time) *regcase.Case {
		return newCase(t, func(c *regcase.Case) {
			c.Status, c.Priority, c.Assignee, c.Category, c.Subject, c.Title = status, prio, assignee, cat, subj, title
			c.OpenedAt, c.UpdatedAt, c.SLA.DueAt = day(n), day(n), due
		})
	}
	byName := map[string]*regcase.Case{
		"rats": mk(1, "open", regcase.PriorityNormal, "", "food",
			regcase.Subject{Name: "Acme Foods Ltd", RegistryID: "REG-001"}, "Rats at the plant", day(31)),
		"spill": mk(2, "investigating", regcase.PriorityHigh, "inv-1", "environment",
			regcase.Subject{Name: "Blue River Chemicals", RegistryID: "REG-002"}, "Oil spill", day(9)),
		"mould": mk(3, "pending_decision", regcase.PriorityCritical, "inv-2", "food",
			regcase.Subject{Name: "ACME Bakery"}, "Mould on 100% of loaves", day(5)),
		"fees": mk(4, "closed", regcase.PriorityLow, "inv-1", "finance",
			regcase.Subject{Name: "Zenith Bank", RegistryID: "REG-003"}, "Hidden fees of 1000 EUR", day(94)),
		"noise": mk(5, "investigating", regcase.PriorityNormal, "inv-2", "environment",
			regcase.Subject{Name: "Night Club Zero"}, "Noise at unit 5_B", day(35)),
	}
	for _, name := range []string{"rats", "spill", "mould", "fees", "noise"} {
		insertCases(t, s, byName[name])
	}
	return byName
}

func testListCases(t *testing.T, open opener) {
	tests := []struct {
		name   string
		filter func(byName map[string]*regcase.Case) regcase.CaseFilter
		want   []string
	}{
		{"Status", func(map[string]*regcase.Case) regcase.CaseFilter { return regcase.CaseFilter{Status: "investigating"} },
			[]string{"spill", "noise"}},
		{"Priority", func(map[string]*regcase.Case) regcase.CaseFilter {
			return regcase.CaseFilter{Priority: regcase.PriorityNormal}
		}, []string{"rats", "noise"}},
		{"Assignee", func(map[string]*regcase.Case) regcase.CaseFilter { return regcase.CaseFilter{Assignee: "inv-1"} },
			[]string{"spill", "fees"}},
		{"Category", func(map[string]*regcase.Case) regcase.CaseFilter { return regcase.CaseFilter{Category: "food"} },
			[]string{"rats", "mould"}},
		{"SubjectNameCaseInsensitive", func(map[string]*regcase.Case) regcase.CaseFilter { return regcase.CaseFilter{Subject: "acme"} },
			[]string{"rats", "mould"}},
		{"SubjectRegistryID", func(map[string]*regcase.Case) regcase.CaseFilter { return regcase.CaseFilter{Subject: "REG-003"} },
			[]string{"fees"}},
		{"OpenedRange", func(map[string]*regcase.Case) regcase.CaseFilter {
			return regcase.CaseFilter{OpenedFrom: ptr(day(2)), OpenedTo: ptr(day(4))}
		}, []string{"spill", "mould"}},
		{"DueBefore", func(map[string]*regcase.Case) regcase.CaseFilter { return regcase.CaseFilter{DueBefore: ptr(day(9))} },
			[]string{"mould"}},
		{"QueryTitle", func(map[string]*regcase.Case) regcase.CaseFilter { return regcase.CaseFilter{Query: "OIL"} },
			[]string{"spill"}},
		{"QuerySubjectName", func(map[string]*regcase.Case) regcase.CaseFilter { return regcase.CaseFilter{Query: "zenith"} },
			[]string{"fees"}},
		{"QueryNumber", func(byName map[string]*regcase.Case) regcase.CaseFilter {
			n := byName["noise"].Number
			return regcase.CaseFilter{Query: n[len(n)-6:]}
		}, []string{"noise"}},
		{"QueryPercentIsLiteral", func(map[string]*regcase.Case) regcase.CaseFilter { return regcase.CaseFilter{Query: "100%"} },
			[]string{"mould"}},
		{"QueryUnderscoreIsLiteral", func(map[string]*regcase.Case) regcase.CaseFilter { return regcase.CaseFilter{Query: "5_B"} },
			[]string{"noise"}},
		{"Combined", func(map[string]*regcase.Case) regcase.CaseFilter {
			return regcase.CaseFilter{Status: "investigating", Assignee: "inv-2"}
		}, []string{"noise"}},
		{"NoMatch", func(map[string]*regcase.Case) regcase.CaseFilter { return regcase.CaseFilter{Assignee: "nobody"} },
			nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := open(t).Store
			byName := seedCases(t, s)
			got, err := s.ListCases(t.Context(), tt.filter(byName))
			if err != nil {
				t.Fatalf("ListCases: %v", err)
			}
			var want []string
			for _, n := range tt.want {
				want = append(want, byName[n].ID)
			}
			wantIDs(t, caseIDs(got), idsDesc(want...))
		})
	}

	t.Run("OKReadsEveryField", func(t *testing.T) {
		s := open(t).Store
		want := fullCase(t)
		insertCases(t, s, want)
		got, err := s.ListCases(t.Context(), regcase.CaseFilter{})
		if err != nil {
			t.Fatalf("ListCases: %v", err)
		}
		if len(got) != 1 {
			t.Fatalf("ListCases returned %d cases, want 1", len(got))
		}
		wantNoDiff(t, "listed case", got[0], want)
	})

	t.Run("OKPages", func(t *testing.T) {
		s := open(t).Store
		var all []string
		for range 7 {
			c := newCase(t)
			insertCases(t, s, c)
			all = append(all, c.ID)
		}
		var pages [][]string
		f := regcase.CaseFilter{Limit: 3}
		for range 10 {
			got, err := s.ListCases(t.Context(), f)
			if err != nil {
				t.Fatalf("ListCases(cursor %q): %v", f.Cursor, err)
			}
			ids := caseIDs(got)
			pages = append(pages, ids)
			if len(ids) == 0 {
				break
			}
			f.Cursor = ids[len(ids)-1]
		}
		if got, want := pageSizes(pages), "3,3,1,0"; got != want {
			t.Errorf("page sizes = %s, want %s", got, want)
		}
		wantIDs(t, flatten(pages), idsDesc(all...))
	})
}

func caseIDs(cs []*regcase.Case) []string {
	ids := []string{}
	for _, c := range cs {
		ids = append(ids, c.ID)
	}
	return ids
}

func pageSizes(pages [][]string) string {
	var sizes []string
	for _, p := range pages {
		sizes = append(sizes, fmt.Sprint(len(p)))
	}
	return strings.Join(sizes, ",")
}

func flatten(pages [][]string) []string {
	var all []string
	for _, p := range pages {
		all = append(all, p...)
	}
	return all
}

func testNotes(t *testing.T, open opener) {
	t.Run("OKOldestFirstWithCursor", func(t *testing.T) {
		s := open(t).Store
		c, other := newCase(t), newCase(t)
		insertCases(t, s, c, other)
		var want []*regcase.Note
		mustTx(t, s, func(tx regcase.Tx) error {
			for i := range 5 {
				n := &regcase.Note{ID: newID(), CaseID: c.ID, Author: fmt.Sprintf("user-%d", i),
					Body: fmt.Sprintf("note %d — ✓", i), CreatedAt: t0.Add(time.Duration(i) * time.Minute)}
				if err := tx.InsertNote(t.Context(), n); err != nil {
					return err
				}
				want = append(want, n)
			}
			return tx.InsertNote(t.Context(), &regcase.Note{ID: newID(), CaseID: other.ID, Author: "x", Body: "other", CreatedAt: t0})
		})

		var got []*regcase.Note
		var sizes []string
		cursor := ""
		for range 5 {
			page, err := s.ListNotes(t.Context(), c.ID, cursor, 2)
			if err != nil {
				t.Fatalf("ListNotes(cursor %q): %v", cursor, err)
			}
			sizes = append(sizes, fmt.Sprint(len(page)))
			if len(page) == 0 {
				break
			}
			got = append(got, page...)
			cursor = page[len(page)-1].ID
		}
		if got, want := strings.Join(sizes, ","), "2,2,1,0"; got != want {
			t.Errorf("page sizes = %s, want %s", got, want)
		}
		wantNoDiff(t, "notes", got, want)
	})

	t.Run("OKDefaultLimit", func(t *testing.T) {
		s := open(t).Store
		c := newCase(t)
		insertCases(t, s, c)
		mustTx(t, s, func(tx regcase.Tx) error {
			for range 3 {
				if err := tx.InsertNote(t.Context(), &regcase.Note{ID: newID(), CaseID: c.ID, Author: "a", Body: "b", CreatedAt: t0}); err != nil {
					return err
				}
			}
			return nil
		})
		got, err := s.ListNotes(t.Context(), c.ID, "", 0)
		if err != nil {
			t.Fatalf("ListNotes: %v", err)
		}
		if len(got) != 3 {
			t.Errorf("ListNotes with limit 0 returned %d notes, want 3", len(got))
		}
	})

	t.Run("ErrConflictID", func(t *testing.T) {
		s := open(t).Store
		c := newCase(t)
		insertCases(t, s, c)
		n := &regcase.Note{ID: newID(), CaseID: c.ID, Author: "a", Body: "b", CreatedAt: t0}
		mustTx(t, s, func(tx regcase.Tx) error { return tx.InsertNote(t.Context(), n) })
		err := s.InTx(t.Context(), func(tx regcase.Tx) error { return tx.InsertNote(t.Context(), n) })
		wantCode(t, err, regcase.EConflict)
	})
}
