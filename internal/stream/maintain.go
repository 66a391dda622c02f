package stream

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
)

// trimScript removes the entries every group is done with, atomically, so
// no read or group change can slip between looking and trimming.
// A group needs its oldest pending entry, or, with nothing pending, the
// first entry after its last-delivered-id; a group that needs nothing in
// the stream does not hold it back. Without groups nothing is trimmed.
//
// KEYS[1] stream. Returns the number of entries removed.
var trimScript = redis.NewScript(`
local key = KEYS[1]
if redis.call('EXISTS', key) == 0 then return 0 end
local groups = redis.call('XINFO', 'GROUPS', key)
if #groups == 0 then return 0 end

local function cmpnum(a, b)
  if #a ~= #b then return #a < #b and -1 or 1 end
  if a == b then return 0 end
  return a < b and -1 or 1
end
local function less(a, b)
  local am, as = string.match(a, '^(%d+)-(%d+)$')
  local bm, bs = string.match(b, '^(%d+)-(%d+)$')
  local c = cmpnum(am, bm)
  if c ~= 0 then return c < 0 end
  return cmpnum(as, bs) < 0
end

local minid = nil
for _, g in ipairs(groups) do
  local f = {}
  for i = 1, #g, 2 do f[g[i]] = g[i + 1] end
  local need = nil
  if tonumber(f['pending']) > 0 then
    need = redis.call('XPENDING', key, f['name'])[2]
  else
    local nxt = redis.call('XRANGE', key, '(' .. f['last-delivered-id'], '+', 'COUNT', 1)
    if #nxt > 0 then need = nxt[1][1] end
  end
  if need and (minid == nil or less(need, minid)) then minid = need end
end
if minid == nil then
  return redis.call('XTRIM', key, 'MAXLEN', 0)
end
return redis.call('XTRIM', key, 'MINID', minid)
`)

// Trim removes the entries that every consumer group has acknowledged and
// returns how many it removed. Pending and undelivered entries stay. With
// no group, nothing is removed.
func (c *Client) Trim(ctx context.Context) (int64, error) {
	n, err := trimScript.Run(ctx, c.rdb, []string{c.o.Stream}).Int64()
	if err != nil {
		return 0, fmt.Errorf("stream: trim: %w", err)
	}
	return n, nil
}

// GroupStats describes one consumer group.
type GroupStats struct {
	Name string
	// Lag is the number of entries not yet delivered to the group. When
	// Redis cannot tell (after entries were deleted from the middle of the
	// stream), it is an upper bound and LagEstimated is set.
	Lag          int64
	LagEstimated bool
	Pending      int64 // delivered, not yet acknowledged
	Consumers    int64
}

// Stats returns the stream's length and each group's lag and pending
// count. A stream that does not exist has length 0 and no groups.
func (c *Client) Stats(ctx context.Context) (length int64, groups []GroupStats, err error) {
	var info *redis.XInfoStreamCmd
	var ginfo *redis.XInfoGroupsCmd
	_, err = c.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		info = p.XInfoStream(ctx, c.o.Stream)
		ginfo = p.XInfoGroups(ctx, c.o.Stream)
		return nil
	})
	if isRedisError(err, "ERR no such key") {
		return 0, nil, nil
	}
	if err != nil {
		return 0, nil, fmt.Errorf("stream: stats: %w", err)
	}
	s := info.Val()
	for _, g := range ginfo.Val() {
		gs := GroupStats{Name: g.Name, Lag: g.Lag, Pending: g.Pending, Consumers: g.Consumers}
		switch {
		case compareIDs(g.LastDeliveredID, s.LastGeneratedID) >= 0:
			// Caught up. Redis 7.0 can still report a lag here, counting
			// entries deleted before the group read past them.
			gs.Lag = 0
		case g.Lag < 0:
			gs.Lag, gs.LagEstimated = estimateLag(s, g), true
		}
		groups = append(groups, gs)
	}
	return s.Length, groups, nil
}

// estimateLag bounds a group's lag from above when Redis reports it as
// unknown: the smaller of the stream's length and the entries added since
// the group's read count (an unknown read count counts as 0).
func estimateLag(s *redis.XInfoStream, g redis.XInfoGroup) int64 {
	lag := s.Length
	if s.EntriesAdded > 0 {
		lag = min(lag, max(s.EntriesAdded-g.EntriesRead, 0))
	}
	return lag
}

// compareIDs orders stream ids "ms-seq"; malformed ids sort first.
func compareIDs(a, b string) int {
	am, as := splitID(a)
	bm, bs := splitID(b)
	switch {
	case am != bm:
		if am < bm {
			return -1
		}
		return 1
	case as != bs:
		if as < bs {
			return -1
		}
		return 1
	}
	return 0
}

func splitID(id string) (ms, seq uint64) {
	m, s, _ := strings.Cut(id, "-")
	ms, _ = strconv.ParseUint(m, 10, 64)
	seq, _ = strconv.ParseUint(s, 10, 64)
	return ms, seq
}

// removeIdleScript deletes, atomically, the consumers of a group that have
// nothing pending and have not tried to read for longer than the limit.
// KEYS[1] stream; ARGV[1] group, ARGV[2] idle limit in ms.
var removeIdleScript = redis.NewScript(`
local key, group, limit = KEYS[1], ARGV[1], tonumber(ARGV[2])
if redis.call('EXISTS', key) == 0 then return 0 end
local consumers = redis.pcall('XINFO', 'CONSUMERS', key, group)
if consumers.err then
  if string.sub(consumers.err, 1, 7) == 'NOGROUP' then return 0 end
  return redis.error_reply(consumers.err)
end
local removed = 0
for _, c in ipairs(consumers) do
  local f = {}
  for i = 1, #c, 2 do f[c[i]] = c[i + 1] end
  if tonumber(f['pending']) == 0 and tonumber(f['idle']) > limit then
    redis.call('XGROUP', 'DELCONSUMER', key, group, f['name'])
    removed = removed + 1
  end
end
return removed
`)

// RemoveIdleConsumers deletes the consumers of group that have no pending
// entries and have been idle longer than idle: names left behind by pods
// that are gone. A consumer with pending entries is kept, so nothing is
// lost; Reclaim moves its entries elsewhere first. A missing group removes
// nothing.
//
// Before Redis 7.2, "idle" counts from the consumer's last delivery, not
// its last attempt, so a live consumer that has had nothing to read for
// that long is removed too. That is harmless: it owns nothing, and Redis
// creates it again on its next delivery, even while it blocks in Read.
func (c *Client) RemoveIdleConsumers(ctx context.Context, group string, idle time.Duration) (int, error) {
	n, err := removeIdleScript.Run(ctx, c.rdb, []string{c.o.Stream}, group, idle.Milliseconds()).Int()
	if err != nil {
		return 0, fmt.Errorf("stream: remove idle consumers of %s: %w", group, err)
	}
	return n, nil
}
