package stream

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
)

// Message is one delivered stream entry.
type Message struct {
	StreamID string // the entry's id in the stream, for Ack
	EventID  string
	Type     string
	Body     []byte
	// Deliveries counts how often the group has delivered the entry,
	// this delivery included.
	Deliveries int64
}

// EnsureGroup creates the consumer group at the start of the stream (id
// "0", so events published before the group existed are consumed),
// creating the stream if needed. An existing group is left as it is.
func (c *Client) EnsureGroup(ctx context.Context, group string) error {
	err := c.rdb.XGroupCreateMkStream(ctx, c.o.Stream, group, "0").Err()
	if err != nil && !isRedisError(err, "BUSYGROUP") {
		return fmt.Errorf("stream: create group %s: %w", group, err)
	}
	return nil
}

// Read delivers up to count new entries to consumer of group, waiting up to
// block for one to arrive (block <= 0: do not wait). It returns nil, nil
// when nothing arrived. A missing group (Redis lost its data) is created
// again at the start of the stream and the read retried once.
//
// A cancelled context takes effect when block ends; a context deadline
// ends the wait at once.
func (c *Client) Read(ctx context.Context, group, consumer string, count int64, block time.Duration) ([]Message, error) {
	msgs, err := c.read(ctx, group, consumer, count, block)
	if isRedisError(err, "NOGROUP") {
		c.resetCursor(group)
		if err := c.EnsureGroup(ctx, group); err != nil {
			return nil, err
		}
		msgs, err = c.read(ctx, group, consumer, count, block)
	}
	if err != nil {
		return nil, fmt.Errorf("stream: read as %s/%s: %w", group, consumer, err)
	}
	return msgs, nil
}

func (c *Client) read(ctx context.Context, group, consumer string, count int64, block time.Duration) ([]Message, error) {
	if block <= 0 {
		block = -1 // no BLOCK argument; BLOCK 0 would wait forever
	}
	// go-redis extends the connection's read deadline to block + 10 s for
	// this command, so a long block does not trip ReadTimeout.
	res, err := c.rdb.XReadGroup(ctx, &redis.XReadGroupArgs{
		Group:    group,
		Consumer: consumer,
		Streams:  []string{c.o.Stream, ">"},
		Count:    count,
		Block:    block,
	}).Result()
	if errors.Is(err, redis.Nil) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var msgs []Message
	for _, s := range res {
		for _, x := range s.Messages {
			m := toMessage(x)
			m.Deliveries = 1
			msgs = append(msgs, m)
		}
	}
	return msgs, nil
}

// Reclaim takes over up to count entries of group that were delivered at
// least minIdle ago and never acknowledged (their consumer died or hangs),
// for consumer. Each call continues the scan of the group's pending entries
// where the previous one stopped, starting over after the end. Deliveries
// is the group's delivery counter after the claim. Pending entries whose
// stream entry was deleted or trimmed are acknowledged away.
func (c *Client) Reclaim(ctx context.Context, group, consumer string, minIdle time.Duration, count int64) ([]Message, error) {
	start := c.cursor(group)
	claimed, next, deleted, err := c.rdb.XAutoClaimWithDeleted(ctx, &redis.XAutoClaimArgs{
		Stream:   c.o.Stream,
		Group:    group,
		Consumer: consumer,
		MinIdle:  minIdle,
		Start:    start,
		Count:    count,
	}).Result()
	if isRedisError(err, "NOGROUP") {
		// A new group has nothing pending; Read recreates it.
		c.resetCursor(group)
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("stream: reclaim for %s/%s: %w", group, consumer, err)
	}
	c.setCursor(group, start, next)

	var msgs []Message
	for _, x := range claimed {
		if x.Values == nil { // Redis 6.2 reports a deleted entry this way
			deleted = append(deleted, x.ID)
			continue
		}
		msgs = append(msgs, toMessage(x))
	}
	if len(deleted) > 0 {
		// Redis 7 already dropped them from the pending list; 6.2 did not.
		if err := c.rdb.XAck(ctx, c.o.Stream, group, deleted...).Err(); err != nil {
			return nil, fmt.Errorf("stream: ack deleted entries of %s: %w", group, err)
		}
	}
	if err := c.fillDeliveries(ctx, group, msgs); err != nil {
		return nil, err
	}
	return msgs, nil
}

// fillDeliveries reads each message's delivery counter from the group's
// pending entries list, in one round trip.
func (c *Client) fillDeliveries(ctx context.Context, group string, msgs []Message) error {
	if len(msgs) == 0 {
		return nil
	}
	cmds := make([]*redis.XPendingExtCmd, len(msgs))
	_, err := c.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		for i, m := range msgs {
			cmds[i] = p.XPendingExt(ctx, &redis.XPendingExtArgs{
				Stream: c.o.Stream, Group: group, Start: m.StreamID, End: m.StreamID, Count: 1,
			})
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("stream: delivery counts of %s: %w", group, err)
	}
	for i, cmd := range cmds {
		msgs[i].Deliveries = 1
		if p := cmd.Val(); len(p) == 1 && p[0].RetryCount > 0 {
			msgs[i].Deliveries = p[0].RetryCount
		}
	}
	return nil
}

func (c *Client) cursor(group string) string {
	c.mu.Lock()
	defer c.mu.Unlock()
	if s, ok := c.cursors[group]; ok {
		return s
	}
	return "0-0"
}

// setCursor stores next unless another call moved the cursor meanwhile.
func (c *Client) setCursor(group, start, next string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if cur, ok := c.cursors[group]; ok && cur != start {
		return
	}
	c.cursors[group] = next
}

func (c *Client) resetCursor(group string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.cursors, group)
}

// Ack acknowledges handled entries of group.
func (c *Client) Ack(ctx context.Context, group string, streamIDs ...string) error {
	if len(streamIDs) == 0 {
		return nil
	}
	if err := c.rdb.XAck(ctx, c.o.Stream, group, streamIDs...).Err(); err != nil {
		return fmt.Errorf("stream: ack %d entries of %s: %w", len(streamIDs), group, err)
	}
	return nil
}

// DeadLetter appends m to the dead-letter stream with the handler (group)
// that gave up, the reason and the delivery count; the dead stream keeps
// about MaxLen entries. It does not acknowledge m.
func (c *Client) DeadLetter(ctx context.Context, m Message, handler, reason string) error {
	err := c.rdb.XAdd(ctx, &redis.XAddArgs{
		Stream: c.o.DeadStream,
		MaxLen: c.o.MaxLen,
		Approx: true,
		Values: []any{
			"id", m.EventID,
			"type", m.Type,
			"event", m.Body,
			"handler", handler,
			"reason", reason,
			"deliveries", strconv.FormatInt(m.Deliveries, 10),
			"stream_id", m.StreamID,
		},
	}).Err()
	if err != nil {
		return fmt.Errorf("stream: dead-letter %s: %w", m.EventID, err)
	}
	return nil
}

// toMessage reads the fields Publish writes.
func toMessage(x redis.XMessage) Message {
	str := func(k string) string {
		s, _ := x.Values[k].(string)
		return s
	}
	return Message{StreamID: x.ID, EventID: str("id"), Type: str("type"), Body: []byte(str("event"))}
}

// isRedisError reports whether err is a Redis error reply starting with
// prefix, such as "NOGROUP" or "BUSYGROUP".
func isRedisError(err error, prefix string) bool {
	var re redis.Error
	return errors.As(err, &re) && strings.HasPrefix(re.Error(), prefix)
}
