package sqlite

import (
	"strconv"
	"strings"
)

// where accumulates AND-ed conditions and their numbered arguments.
type where struct {
	conds []string
	args  []any
}

// arg adds v as the next numbered argument and returns its placeholder.
func (w *where) arg(v any) string {
	w.args = append(w.args, v)
	return "?" + strconv.Itoa(len(w.args))
}

// add appends a condition built with arg.
func (w *where) add(cond string) { w.conds = append(w.conds, cond) }

// eq adds "col = v" unless v is empty.
func (w *where) eq(col, v string) {
	if v != "" {
		w.add(col + " = " + w.arg(v))
	}
}

// sql returns " WHERE …" (or "" when there is no condition).
func (w *where) sql() string {
	if len(w.conds) == 0 {
		return ""
	}
	return " WHERE " + strings.Join(w.conds, " AND ")
}

// contains returns a LIKE pattern matching s, folded, as a literal
// substring of a folded column: the wildcards % and _ and the escape
// character \ in s are escaped. Use it with ESCAPE '\'.
func contains(s string) string {
	r := strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`)
	return "%" + r.Replace(strings.ToLower(s)) + "%"
}

// subjectCond matches a subject by case-insensitive substring of its name
// or by exact registry id.
func (w *where) subjectCond(s string) {
	p := w.arg(contains(s))
	w.add("(" + foldFunc + "(subject_name) LIKE " + p + ` ESCAPE '\' OR subject_registry_id = ` + w.arg(s) + ")")
}

// textCond matches s as a case-insensitive substring of any of cols.
func (w *where) textCond(s string, cols ...string) {
	p := w.arg(contains(s))
	parts := make([]string, len(cols))
	for i, c := range cols {
		parts[i] = foldFunc + "(" + c + ") LIKE " + p + ` ESCAPE '\'`
	}
	w.add("(" + strings.Join(parts, " OR ") + ")")
}
