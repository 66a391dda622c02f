package dbutil

import (
	"strconv"
	"strings"

	"github.com/regcase/regcase/internal/regcase"
)

// Dialect is how an engine writes what Where builds.
type Dialect struct {
	// Placeholder prefixes an argument's number: "$" (PostgreSQL $1) or
	// "?" (SQLite ?1).
	Placeholder string
	// Contains is the condition "column col contains the pattern p" (p a
	// placeholder of a pattern from Pattern).
	Contains func(col, p string) string
	// Fold is applied to the searched text before escaping (SQLite folds
	// in Go; PostgreSQL's ILIKE folds itself).
	Fold func(string) string
}

// Where accumulates AND-ed conditions and their numbered arguments.
type Where struct {
	d     Dialect
	conds []string
	Args  []any
}

// NewWhere returns an empty condition list for d.
func NewWhere(d Dialect) *Where { return &Where{d: d} }

// Arg adds v as the next numbered argument and returns its placeholder.
func (w *Where) Arg(v any) string {
	w.Args = append(w.Args, v)
	return w.d.Placeholder + strconv.Itoa(len(w.Args))
}

// Add appends a condition built with Arg.
func (w *Where) Add(cond string) { w.conds = append(w.conds, cond) }

// Eq adds "col = v" unless v is empty.
func (w *Where) Eq(col, v string) {
	if v != "" {
		w.Add(col + " = " + w.Arg(v))
	}
}

// SQL returns " WHERE …" (or "" when there is no condition).
func (w *Where) SQL() string {
	if len(w.conds) == 0 {
		return ""
	}
	return " WHERE " + strings.Join(w.conds, " AND ")
}

// Pattern returns the LIKE pattern matching s as a literal substring: the
// wildcards % and _ and the escape character \ in s are escaped, for
// ESCAPE '\'.
func (w *Where) Pattern(s string) string {
	if w.d.Fold != nil {
		s = w.d.Fold(s)
	}
	r := strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`)
	return "%" + r.Replace(s) + "%"
}

// Subject matches a subject by case-insensitive substring of its name or
// by exact registry id.
func (w *Where) Subject(s string) {
	p := w.Arg(w.Pattern(s))
	w.Add("(" + w.d.Contains("subject_name", p) + " OR subject_registry_id = " + w.Arg(s) + ")")
}

// Text matches s as a case-insensitive substring of any of cols.
func (w *Where) Text(s string, cols ...string) {
	p := w.Arg(w.Pattern(s))
	parts := make([]string, len(cols))
	for i, c := range cols {
		parts[i] = w.d.Contains(c, p)
	}
	w.Add("(" + strings.Join(parts, " OR ") + ")")
}

// DeadEvents adds the conditions of f (handler, replayed or not, ID below
// a positive cursor): the dead-letter list's filter on both engines.
func (w *Where) DeadEvents(f regcase.DeadEventFilter) {
	w.Eq("handler", f.Handler)
	switch {
	case f.Replayed == nil:
	case *f.Replayed:
		w.Add("replayed_at IS NOT NULL")
	default:
		w.Add("replayed_at IS NULL")
	}
	if f.Cursor > 0 {
		w.Add("id < " + w.Arg(f.Cursor))
	}
}
