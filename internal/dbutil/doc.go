// Package dbutil holds what the two stores (internal/postgres and
// internal/sqlite) share and is not SQL dialect: the embedded migrations'
// loading and status (one MigrationState type for both engines) and the
// dashboard's compliance counts (one statement, written once, whose
// placeholder each engine fills in).
package dbutil
