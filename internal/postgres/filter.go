package postgres

import "github.com/regcase/regcase/internal/dbutil"

// dialect writes list filters for PostgreSQL: $n placeholders, ILIKE.
var dialect = dbutil.Dialect{
	Placeholder: "$",
	Contains:    func(col, p string) string { return col + " ILIKE " + p + ` ESCAPE '\'` },
}

// newWhere returns an empty list filter.
func newWhere() *dbutil.Where { return dbutil.NewWhere(dialect) }
