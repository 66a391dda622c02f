package sqlite

import (
	"strings"

	"github.com/regcase/regcase/internal/dbutil"
)

// dialect writes list filters for SQLite: ?n placeholders, LIKE over
// Unicode-folded text (regcase_fold; SQLite's own LIKE folds ASCII only).
var dialect = dbutil.Dialect{
	Placeholder: "?",
	Contains:    func(col, p string) string { return foldFunc + "(" + col + ") LIKE " + p + ` ESCAPE '\'` },
	Fold:        strings.ToLower,
}

// newWhere returns an empty list filter.
func newWhere() *dbutil.Where { return dbutil.NewWhere(dialect) }
