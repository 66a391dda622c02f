package storetest

import (
	"testing"

	"github.com/regcase/regcase/internal/regcase"
)

// seedReports stores six reports that each filter tells apart, and the
// case two of them belong to. Received times are day(1) … day(6).
func seedReports(t *testing.T, s regcase.Store) (byName map[string]*regcase.Report, caseID string) {
	t.Helper()
	c := newCase(t)
	insertCases(t, s, c)
	mk := func(n int, status regcase.ReportStatus, ch regcase.Channel, cat string, subj regcase.Subject, desc, loc, caseID string) *regcase.Report {
		return newReport(t, func(r *regcase.Report) {
			r.Status, r.Channel, r.Category, r.Subject = status, ch, cat, subj
			r.Description, r.Location, r.CaseID = desc, loc, caseID
			r.ReceivedAt, r.UpdatedAt = day(n), day(n)
		})
	}
	byName = map[string]*regcase.Report{
		"kitchen": mk(1, regcase.ReportReceived, regcase.ChannelWeb, "food",
			regcase.Subject{Name: "Acme Foods Ltd", RegistryID: "REG-001"}, "Rats seen in the kitchen", "12 Main Street", ""),
		"spill": mk(2, regcase.ReportTriaged, regcase.ChannelAPI, "environment",
			regcase.Subject{Name: "Blue River Chemicals", RegistryID: "REG-002"}, "Oil spill near the outlet", "Riverside Park", c.ID),
		"mould": mk(3, regcase.ReportDismissed, regcase.ChannelPhone, "food",
			regcase.Subject{Name: "ACME Bakery"}, "Mould on 100% of loaves", "Unit 5_B, Harbour Road", ""),
		"fees": mk(4, regcase.ReportReceived, regcase.ChannelEmail, "finance",
			regcase.Subject{Name: "Zenith Bank", RegistryID: "REG-003"}, "Hidden fees of 1000 EUR", "Online", ""),
		"noise": mk(5, regcase.ReportReceived, regcase.ChannelInspection, "environment",
			regcase.Subject{Name: "Night Club Zero"}, "Noise after midnight", "Old Town", c.ID),
		"milk": mk(6, regcase.ReportReceived, regcase.ChannelWeb, "food",
			regcase.Subject{Name: "Corner Shop"}, "Expired milk", "Unit 5-B Market", ""),
	}
	for _, name := range []string{"kitchen", "spill", "mould", "fees", "noise", "milk"} {
		insertReports(t, s, byName[name])
	}
	return byName, c.ID
}

func testListReports(t *testing.T, open opener) {
	tests := []struct {
		name   string
		filter func(caseID string) regcase.ReportFilter
		want   []string
	}{
		{"Status", func(string) regcase.ReportFilter { return regcase.ReportFilter{Status: regcase.ReportReceived} },
			[]string{"kitchen", "fees", "noise", "milk"}},
		{"StatusDismissed", func(string) regcase.ReportFilter { return regcase.ReportFilter{Status: regcase.ReportDismissed} },
			[]string{"mould"}},
		{"Channel", func(string) regcase.ReportFilter { return regcase.ReportFilter{Channel: regcase.ChannelAPI} },
			[]string{"spill"}},
		{"Category", func(string) regcase.ReportFilter { return regcase.ReportFilter{Category: "food"} },
			[]string{"kitchen", "mould", "milk"}},
		{"SubjectNameCaseInsensitive", func(string) regcase.ReportFilter { return regcase.ReportFilter{Subject: "aCMe"} },
			[]string{"kitchen", "mould"}},
		{"SubjectRegistryID", func(string) regcase.ReportFilter { return regcase.ReportFilter{Subject: "REG-002"} },
			[]string{"spill"}},
		{"SubjectRegistryIDExactOnly", func(string) regcase.ReportFilter { return regcase.ReportFilter{Subject: "REG-00"} },
			nil},
		{"CaseID", func(caseID string) regcase.ReportFilter { return regcase.ReportFilter{CaseID: caseID} },
			[]string{"spill", "noise"}},
		{"ReceivedRange", func(string) regcase.ReportFilter {
			return regcase.ReportFilter{ReceivedFrom: ptr(day(2)), ReceivedTo: ptr(day(4))}
		}, []string{"spill", "mould"}},
		{"ReceivedFrom", func(string) regcase.ReportFilter { return regcase.ReportFilter{ReceivedFrom: ptr(day(4))} },
			[]string{"fees", "noise", "milk"}},
		{"ReceivedTo", func(string) regcase.ReportFilter { return regcase.ReportFilter{ReceivedTo: ptr(day(2))} },
			[]string{"kitchen"}},
		{"QueryDescription", func(string) regcase.ReportFilter { return regcase.ReportFilter{Query: "KITCHEN"} },
			[]string{"kitchen"}},
		{"QueryLocation", func(string) regcase.ReportFilter { return regcase.ReportFilter{Query: "harbour"} },
			[]string{"mould"}},
		{"QuerySubjectName", func(string) regcase.ReportFilter { return regcase.ReportFilter{Query: "zenith"} },
			[]string{"fees"}},
		{"QueryPercentIsLiteral", func(string) regcase.ReportFilter { return regcase.ReportFilter{Query: "100%"} },
			[]string{"mould"}},
		{"QueryUnderscoreIsLiteral", func(string) regcase.ReportFilter { return regcase.ReportFilter{Query: "5_b"} },
			[]string{"mould"}},
		{"SubjectPercentIsLiteral", func(string) regcase.ReportFilter { return regcase.ReportFilter{Subject: "%"} },
			nil},
		{"Combined", func(string) regcase.ReportFilter {
			return regcase.ReportFilter{Status: regcase.ReportReceived, Category: "food"}
		}, []string{"kitchen", "milk"}},
		{"NoMatch", func(string) regcase.ReportFilter { return regcase.ReportFilter{Category: "aviation"} },
			nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := open(t).Store
			byName, caseID := seedReports(t, s)
			got, err := s.ListReports(t.Context(), tt.filter(caseID))
			if err != nil {
				t.Fatalf("ListReports: %v", err)
			}
			var want []string
			for _, n := range tt.want {
				want = append(want, byName[n].ID)
			}
			wantIDs(t, reportIDs(got), idsDesc(want...))
		})
	}

	t.Run("OKReadsEveryField", func(t *testing.T) {
		s := open(t).Store
		want := fullReport(t)
		insertReports(t, s, want)
		got, err := s.ListReports(t.Context(), regcase.ReportFilter{})
		if err != nil {
			t.Fatalf("ListReports: %v", err)
		}
		if len(got) != 1 {
			t.Fatalf("ListReports returned %d reports, want 1", len(got))
		}
		wantNoDiff(t, "listed report", got[0], want)
	})

	t.Run("OKPages", func(t *testing.T) {
		s := open(t).Store
		var all []string
		for range 7 {
			r := newReport(t)
			insertReports(t, s, r)
			all = append(all, r.ID)
		}
		pages := pageReports(t, s, regcase.ReportFilter{Limit: 3})
		if got, want := pageSizes(pages), "3,3,1,0"; got != want {
			t.Errorf("page sizes = %s, want %s", got, want)
		}
		wantIDs(t, flatten(pages), idsDesc(all...))
	})

	t.Run("OKPagesWithFilter", func(t *testing.T) {
		s := open(t).Store
		var food []string
		for i := range 7 {
			r := newReport(t, func(r *regcase.Report) {
				if i%3 == 2 {
					r.Category = "finance"
				}
			})
			insertReports(t, s, r)
			if r.Category != "finance" {
				food = append(food, r.ID)
			}
		}
		pages := pageReports(t, s, regcase.ReportFilter{Category: "food-safety", Limit: 2})
		if got, want := pageSizes(pages), "2,2,1,0"; got != want {
			t.Errorf("page sizes = %s, want %s", got, want)
		}
		wantIDs(t, flatten(pages), idsDesc(food...))
	})

	t.Run("OKDefaultLimit", func(t *testing.T) {
		s := open(t).Store
		var all []string
		for range 3 {
			r := newReport(t)
			insertReports(t, s, r)
			all = append(all, r.ID)
		}
		got, err := s.ListReports(t.Context(), regcase.ReportFilter{})
		if err != nil {
			t.Fatalf("ListReports: %v", err)
		}
		wantIDs(t, reportIDs(got), idsDesc(all...))
	})
}

// pageReports follows the cursor until an empty page and returns every page
// (the last one empty).
func pageReports(t *testing.T, s regcase.Store, f regcase.ReportFilter) [][]string {
	t.Helper()
	var pages [][]string
	for range 10 {
		got, err := s.ListReports(t.Context(), f)
		if err != nil {
			t.Fatalf("ListReports(cursor %q): %v", f.Cursor, err)
		}
		ids := reportIDs(got)
		pages = append(pages, ids)
		if len(ids) == 0 {
			return pages
		}
		f.Cursor = ids[len(ids)-1]
	}
	t.Fatalf("ListReports did not reach an empty page in 10 pages: %v", pages)
	return nil
}

func reportIDs(rs []*regcase.Report) []string {
	ids := []string{}
	for _, r := range rs {
		ids = append(ids, r.ID)
	}
	return ids
}
