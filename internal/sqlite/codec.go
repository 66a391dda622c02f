package sqlite

import (
	"database/sql"
	"fmt"
	"time"
)

// timeLayout is how every time is stored: UTC, microseconds, fixed width,
// so that TEXT comparison is time order and regcase.AuditTime survives a
// round trip.
const timeLayout = "2006-01-02T15:04:05.000000Z"

// fmtTime encodes t (truncated to the microsecond).
func fmtTime(t time.Time) string {
	return t.UTC().Truncate(time.Microsecond).Format(timeLayout)
}

// fmtTimePtr encodes an optional time; nil is NULL.
func fmtTimePtr(t *time.Time) any {
	if t == nil {
		return nil
	}
	return fmtTime(*t)
}

// nullString stores "" as NULL (for columns in unique indexes or foreign
// keys).
func nullString(s string) any {
	if s == "" {
		return nil
	}
	return s
}

// decoder parses stored values and keeps the first error, so a scan
// function reads as a list of assignments.
type decoder struct {
	err error
}

func (d *decoder) time(s string) time.Time {
	t, err := time.Parse(timeLayout, s)
	if err != nil && d.err == nil {
		d.err = fmt.Errorf("decode time %q: %w", s, err)
	}
	return t
}

func (d *decoder) timePtr(s sql.NullString) *time.Time {
	if !s.Valid {
		return nil
	}
	t := d.time(s.String)
	return &t
}
