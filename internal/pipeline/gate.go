package pipeline

import "context"

// Gate bounds how many of the worker's handlers and deliverers use the
// database at once. The worker's pool is shared with the relay, the SLA
// scan and the checkpointer: with dozens of handlers and senders queueing
// for a handful of connections, the relay — one statement per batch, but
// behind every one of them — starved and the outbox backlog grew (measured:
// commit → published p50 17 s at 1,000 events/s, 157 s of pool wait). A
// gate of pool size − 2 keeps two connections for the relay and its peers.
// A nil Gate does not limit (SQLite: one writer anyway).
type Gate chan struct{}

// NewGate returns a gate of n slots (nil when n <= 0).
func NewGate(n int) Gate {
	if n <= 0 {
		return nil
	}
	return make(Gate, n)
}

// Do runs fn holding a slot.
func (g Gate) Do(ctx context.Context, fn func() error) error {
	if g == nil {
		return fn()
	}
	select {
	case g <- struct{}{}:
	case <-ctx.Done():
		return ctx.Err()
	}
	defer func() { <-g }()
	return fn()
}
