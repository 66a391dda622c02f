// Package stream carries the platform's events over Redis Streams: the
// outbox relay publishes CloudEvents JSON into one stream, and every
// handler reads it through its own consumer group, acknowledging what it
// has handled. Entries a consumer took and never acknowledged are reclaimed
// by another after a while; entries that keep failing go to a dead-letter
// stream.
//
// The stream is never trimmed by length: the outbox in the database holds
// the backlog while Full reports the stream at its cap, and Trim removes
// only what every group has acknowledged.
package stream

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"
)

// Defaults for Options.
const (
	DefaultStream     = "regcase:events"
	DefaultDeadStream = "regcase:events:dead"
	DefaultMaxLen     = 100_000
)

// Options names the streams and the soft cap.
type Options struct {
	Stream     string // default "regcase:events"
	DeadStream string // default "regcase:events:dead"
	// MaxLen is the soft cap: Full reports true at this length, and the dead
	// stream is trimmed to about this many entries. Default 100000.
	MaxLen int64
}

func (o Options) withDefaults() Options {
	if o.Stream == "" {
		o.Stream = DefaultStream
	}
	if o.DeadStream == "" {
		o.DeadStream = DefaultDeadStream
	}
	if o.MaxLen <= 0 {
		o.MaxLen = DefaultMaxLen
	}
	return o
}

// Timeouts set on the connection unless the URL sets them (dial_timeout,
// read_timeout, write_timeout, pool_timeout query parameters).
const (
	dialTimeout  = 2 * time.Second
	readTimeout  = 3 * time.Second
	writeTimeout = 3 * time.Second
	poolTimeout  = 4 * time.Second
	pingTimeout  = 3 * time.Second
)

// Client publishes to and consumes from the event stream. It is safe for
// concurrent use and survives Redis restarts: calls fail while Redis is
// down and work again once it is back.
type Client struct {
	rdb *redis.Client
	o   Options

	mu      sync.Mutex
	cursors map[string]string // group -> XAUTOCLAIM cursor
}

// Open connects to the Redis at rawURL (redis:// or rediss://, as in
// REDIS_URL) and pings it. Errors never contain the URL's password.
func Open(ctx context.Context, rawURL string, o Options) (*Client, error) {
	rdb, err := NewRedis(rawURL)
	if err != nil {
		return nil, err
	}
	c := New(rdb, o)
	pctx, cancel := context.WithTimeout(ctx, pingTimeout)
	defer cancel()
	if err := c.Ping(pctx); err != nil {
		_ = c.Close()
		return nil, fmt.Errorf("stream: connect to %s: %w", redactURL(rawURL), err)
	}
	return c, nil
}

// New wraps an existing client. Give it ContextTimeoutEnabled so that
// context deadlines bound every call; Open does.
func New(rdb *redis.Client, o Options) *Client {
	return &Client{rdb: rdb, o: o.withDefaults(), cursors: map[string]string{}}
}

// NewRedis returns a client for rawURL with this package's timeouts and
// ContextTimeoutEnabled (so a context deadline bounds every call, even
// against a hung Redis), without connecting yet. Errors never contain the
// URL's password.
func NewRedis(rawURL string) (*redis.Client, error) {
	opt, err := parseURL(rawURL)
	if err != nil {
		return nil, err
	}
	rdb := redis.NewClient(opt)
	rdb.AddHook(traceHook{})
	return rdb, nil
}

// parseURL turns a redis:// or rediss:// URL into options with this
// package's timeouts. Errors name the URL without its password.
func parseURL(rawURL string) (*redis.Options, error) {
	u, err := url.Parse(rawURL)
	if err != nil {
		// url.Parse's error quotes the whole URL, password included.
		return nil, errors.New("stream: Redis URL is not a valid URL")
	}
	if u.Scheme != "redis" && u.Scheme != "rediss" {
		return nil, fmt.Errorf("stream: Redis URL %s: scheme must be redis or rediss", redactURL(rawURL))
	}
	opt, err := redis.ParseURL(rawURL)
	if err != nil {
		return nil, fmt.Errorf("stream: Redis URL %s: %s", redactURL(rawURL), scrub(err.Error(), u))
	}
	if opt.DialTimeout == 0 {
		opt.DialTimeout = dialTimeout
	}
	if opt.ReadTimeout == 0 {
		opt.ReadTimeout = readTimeout
	}
	if opt.WriteTimeout == 0 {
		opt.WriteTimeout = writeTimeout
	}
	if opt.PoolTimeout == 0 {
		opt.PoolTimeout = poolTimeout
	}
	opt.DialerRetries = 2
	opt.ContextTimeoutEnabled = true
	return opt, nil
}

// redactURL is rawURL without user info or query, for messages.
func redactURL(rawURL string) string {
	u, err := url.Parse(rawURL)
	if err != nil {
		return "(invalid URL)"
	}
	r := url.URL{Scheme: u.Scheme, Host: u.Host, Path: u.Path}
	return r.String()
}

// scrub removes the URL's user name and password from msg.
func scrub(msg string, u *url.URL) string {
	if u.User == nil {
		return msg
	}
	secrets := []string{u.User.Username()}
	if pw, ok := u.User.Password(); ok {
		secrets = append(secrets, pw, url.QueryEscape(pw), url.PathEscape(pw))
	}
	for _, s := range secrets {
		if s != "" {
			msg = strings.ReplaceAll(msg, s, "****")
		}
	}
	return msg
}

// Close closes the connections.
func (c *Client) Close() error { return c.rdb.Close() }

// Ping checks that Redis answers.
func (c *Client) Ping(ctx context.Context) error {
	if err := c.rdb.Ping(ctx).Err(); err != nil {
		return fmt.Errorf("stream: ping: %w", err)
	}
	return nil
}

// Redis is the underlying client, for sharing the connection (the intake
// rate limiter uses it).
func (c *Client) Redis() *redis.Client { return c.rdb }

// Options returns the options in effect, defaults filled in.
func (c *Client) Options() Options { return c.o }

// Outgoing is one event to publish: Body is CloudEvents JSON.
type Outgoing struct {
	EventID string
	Type    string
	Body    []byte
}

// Publish appends msgs to the stream in order, in one pipeline, with the
// fields "id", "type" and "event". It fails if any append failed; some may
// then have been appended, so the caller publishes again and consumers
// deduplicate by event id (delivery is at least once).
func (c *Client) Publish(ctx context.Context, msgs []Outgoing) error {
	if len(msgs) == 0 {
		return nil
	}
	cmds, err := c.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		for _, m := range msgs {
			p.XAdd(ctx, &redis.XAddArgs{
				Stream: c.o.Stream,
				Values: []any{"id", m.EventID, "type", m.Type, "event", m.Body},
			})
		}
		return nil
	})
	if err != nil {
		for i, cmd := range cmds {
			if cmd.Err() != nil {
				return fmt.Errorf("stream: publish %d events: event %d (%s): %w", len(msgs), i, msgs[i].EventID, cmd.Err())
			}
		}
		return fmt.Errorf("stream: publish %d events: %w", len(msgs), err)
	}
	return nil
}

// Full reports whether the stream holds at least MaxLen entries; the relay
// then waits and the backlog stays in the outbox.
func (c *Client) Full(ctx context.Context) (bool, error) {
	n, err := c.rdb.XLen(ctx, c.o.Stream).Result()
	if err != nil {
		return false, fmt.Errorf("stream: length: %w", err)
	}
	return n >= c.o.MaxLen, nil
}

// Oldest returns the time of the oldest entry still in the stream (its ID's
// millisecond part, Redis's clock); ok is false when the stream is empty.
// Every event published before it is gone from the stream: handled and
// trimmed — or lost by Redis (see regcase.PipelineStore.RepublishLost).
func (c *Client) Oldest(ctx context.Context) (t time.Time, ok bool, err error) {
	msgs, err := c.rdb.XRangeN(ctx, c.o.Stream, "-", "+", 1).Result()
	if err != nil {
		return time.Time{}, false, fmt.Errorf("stream: oldest entry: %w", err)
	}
	if len(msgs) == 0 {
		return time.Time{}, false, nil
	}
	ms, _, _ := strings.Cut(msgs[0].ID, "-")
	n, err := strconv.ParseInt(ms, 10, 64)
	if err != nil {
		return time.Time{}, false, fmt.Errorf("stream: entry id %q: %w", msgs[0].ID, err)
	}
	return time.UnixMilli(n), true, nil
}
