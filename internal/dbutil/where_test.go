package dbutil

import (
	"strings"
	"testing"
)

func TestPattern(t *testing.T) {
	w := NewWhere(Dialect{Placeholder: "$"})
	for in, want := range map[string]string{
		"abc":    "%abc%",
		"50%":    `%50\%%`,
		"a_b":    `%a\_b%`,
		`back\s`: `%back\\s%`,
	} {
		if got := w.Pattern(in); got != want {
			t.Errorf("Pattern(%q) = %q, want %q", in, got, want)
		}
	}
	if got := NewWhere(Dialect{Fold: strings.ToLower}).Pattern("MÜLLER"); got != "%müller%" {
		t.Errorf("folded Pattern = %q", got)
	}
}

func TestWhere(t *testing.T) {
	w := NewWhere(Dialect{Placeholder: "?", Contains: func(col, p string) string { return col + " LIKE " + p }})
	if w.SQL() != "" {
		t.Errorf("empty SQL = %q", w.SQL())
	}
	w.Eq("status", "")
	w.Eq("status", "open")
	w.Subject("Shop")
	w.Text("x", "a", "b")
	want := ` WHERE status = ?1 AND (subject_name LIKE ?2 OR subject_registry_id = ?3) AND (a LIKE ?4 OR b LIKE ?4)`
	if w.SQL() != want || len(w.Args) != 4 {
		t.Errorf("SQL = %q %v, want %q", w.SQL(), w.Args, want)
	}
}
