package main

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
)

// The database is only read: the pending webhook deliveries (a backlog the
// metrics do not show) and, after a run, each event's timestamps along the
// pipeline.

func openDB(ctx context.Context, url string) (*pgxpool.Pool, error) {
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		return nil, fmt.Errorf("-db: %w", err)
	}
	cfg.MaxConns = 2
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("-db: %w", err)
	}
	if err := pool.Ping(ctx); err != nil {
		pool.Close()
		return nil, fmt.Errorf("-db: %w", err)
	}
	return pool, nil
}

func pendingDeliveries(ctx context.Context, pool *pgxpool.Pool) (float64, error) {
	var n int64
	err := pool.QueryRow(ctx, `SELECT count(*) AS pipebench FROM webhook_deliveries WHERE status = 'pending'`).Scan(&n)
	return float64(n), err
}

// stamps are one event's times along the pipeline, as the database
// recorded them.
type stamps struct {
	Time      time.Time // CloudEvents time: set by the API before its commit
	Published time.Time // relay: after XADD, when it marked the row published
	FannedOut time.Time // fan-out handler: start of its transaction (delivery created_at)
	SendStart time.Time // deliverer: first attempt's end minus its duration
}

// eventStamps returns the stamps of the given events (first attempt of
// their delivery). The lookups go through the unique indexes (outbox by
// event_id, deliveries by webhook_id and event_id), so the query stays fast
// however large the tables have grown.
func eventStamps(ctx context.Context, pool *pgxpool.Pool, eventIDs []string) (map[string]stamps, error) {
	var hooks []string
	rows, err := pool.Query(ctx, `SELECT id AS pipebench FROM webhooks`)
	if err != nil {
		return nil, err
	}
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			return nil, err
		}
		hooks = append(hooks, id)
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	rows, err = pool.Query(ctx, `
		SELECT o.event_id AS pipebench_id, o.time, o.published_at, d.created_at, a.at, a.duration
		FROM outbox o
		JOIN webhook_deliveries d ON d.webhook_id = ANY($2) AND d.event_id = o.event_id
		JOIN LATERAL (SELECT at, duration FROM webhook_attempts WHERE delivery_id = d.id ORDER BY id LIMIT 1) a ON true
		WHERE o.event_id = ANY($1) AND o.published_at IS NOT NULL`, eventIDs, hooks)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := make(map[string]stamps, len(eventIDs))
	for rows.Next() {
		var id string
		var s stamps
		var at time.Time
		var durUS int64
		if err := rows.Scan(&id, &s.Time, &s.Published, &s.FannedOut, &at, &durUS); err != nil {
			return nil, err
		}
		s.SendStart = at.Add(-time.Duration(durUS) * time.Microsecond)
		out[id] = s
	}
	return out, rows.Err()
}

// resetStatements clears pg_stat_statements when the server has it (the
// bench script preloads it); false when it does not.
func resetStatements(ctx context.Context, pool *pgxpool.Pool) bool {
	if _, err := pool.Exec(ctx, `CREATE EXTENSION IF NOT EXISTS pg_stat_statements`); err != nil {
		return false
	}
	_, err := pool.Exec(ctx, `SELECT pg_stat_statements_reset()`)
	return err == nil
}

// statement is one normalized statement's execution time in the database
// over the scenario.
type statement struct {
	Query   string  `json:"query"`
	Calls   int64   `json:"calls"`
	TotalMS float64 `json:"total_ms"`
	MeanMS  float64 `json:"mean_ms"`
}

// dbStats is the database's execution time over the scenario, from
// pg_stat_statements (the bench's own queries, which name "pipebench" or pg_stat_statements, excluded).
type dbStats struct {
	Calls   int64       `json:"calls"`
	TotalMS float64     `json:"total_ms"`
	Top     []statement `json:"top"`
}

func dbTime(ctx context.Context, pool *pgxpool.Pool, n int) (*dbStats, error) {
	const ours = `query NOT LIKE '%pipebench%' AND query NOT LIKE '%pg_stat_statements%'
		AND dbid = (SELECT oid FROM pg_database WHERE datname = current_database())`
	st := &dbStats{}
	if err := pool.QueryRow(ctx, `SELECT coalesce(sum(calls), 0)::bigint, coalesce(sum(total_exec_time), 0)
		FROM pg_stat_statements WHERE `+ours).Scan(&st.Calls, &st.TotalMS); err != nil {
		return nil, err
	}
	rows, err := pool.Query(ctx, `SELECT left(regexp_replace(query, '\s+', ' ', 'g'), 160), calls, total_exec_time, mean_exec_time
		FROM pg_stat_statements WHERE `+ours+` ORDER BY total_exec_time DESC LIMIT $1`, n)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	for rows.Next() {
		var s statement
		if err := rows.Scan(&s.Query, &s.Calls, &s.TotalMS, &s.MeanMS); err != nil {
			return nil, err
		}
		st.Top = append(st.Top, s)
	}
	return st, rows.Err()
}

func outboxBacklog(ctx context.Context, pool *pgxpool.Pool) (float64, error) {
	var n int64
	err := pool.QueryRow(ctx, `SELECT count(*) AS pipebench FROM outbox WHERE published_at IS NULL`).Scan(&n)
	return float64(n), err
}
