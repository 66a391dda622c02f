package throttle

import (
	"context"
	"fmt"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"
)

// gcraScript is the generic cell rate algorithm: the key holds the
// client's theoretical arrival time (TAT, µs of Redis's clock). A request
// is allowed when it would not put the TAT more than burst intervals ahead
// of now, which is a token bucket of burst tokens refilled one per
// interval. The key expires when the bucket is full again.
//
// KEYS[1] client key; ARGV[1] interval (µs, may be fractional), ARGV[2]
// burst. Returns {1, 0} when allowed, {0, µs to wait} when not.
var gcraScript = redis.NewScript(`
local interval = tonumber(ARGV[1])
local burst = tonumber(ARGV[2])
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local tat = tonumber(redis.call('GET', KEYS[1])) or now
if tat < now then tat = now end
local new_tat = tat + interval
local allow_at = new_tat - burst * interval
if allow_at > now then
  return {0, math.ceil(allow_at - now)}
end
local ttl_ms = math.max(1, math.ceil((new_tat - now) / 1000))
redis.call('SET', KEYS[1], string.format('%.0f', new_tat), 'PX', string.format('%.0f', ttl_ms))
return {1, 0}
`)

// RedisLimiter is a per-client token bucket kept in Redis, so every
// replica of the service draws on one budget per client. When Redis
// fails or is slower than the call timeout, it falls back to an
// in-process Limiter (each replica then has its own budget) and reports
// the error, at most once every 10 seconds. Safe for concurrent use.
type RedisLimiter struct {
	rdb      *redis.Client
	prefix   string
	interval string // µs between tokens, for the script
	burst    int
	fallback *Limiter
	onError  func(error)
	timeout  time.Duration

	now        func() time.Time
	lastReport atomic.Int64 // unix ns of the last onError call
}

// Timeouts of RedisLimiter.
const (
	redisCallTimeout = 50 * time.Millisecond
	reportEvery      = 10 * time.Second
)

// NewRedis returns a limiter allowing perSecond requests per client with
// burst, shared by everyone using the same Redis and prefix (such as
// "regcase:rl:intake:"); the client's identifier, an IPv4 or IPv6 address,
// follows the prefix in the key. Create rdb with ContextTimeoutEnabled so
// the 50 ms call timeout also bounds a hung Redis (stream.Open does).
// fallback decides while Redis fails (nil: a new Limiter with the same
// rate); onError, if not nil, hears of the failures. perSecond and burst
// should be positive (config ensures it); otherwise the limiter behaves
// like fallback alone.
func NewRedis(rdb *redis.Client, prefix string, perSecond float64, burst int, fallback *Limiter, onError func(error)) *RedisLimiter {
	if fallback == nil {
		fallback = New(perSecond, burst)
	}
	if onError == nil {
		onError = func(error) {}
	}
	interval := "" // a rate Redis cannot express: decide in process
	if perSecond > 0 && burst > 0 {
		interval = strconv.FormatFloat(1e6/perSecond, 'f', -1, 64)
	}
	return &RedisLimiter{
		rdb: rdb, prefix: prefix, interval: interval, burst: burst,
		fallback: fallback, onError: onError, timeout: redisCallTimeout, now: time.Now,
	}
}

// Allow reports whether client may go on now; when not, how long to wait.
func (l *RedisLimiter) Allow(client string) (bool, time.Duration) {
	if l.interval == "" {
		return l.fallback.Allow(client)
	}
	ctx, cancel := context.WithTimeout(context.Background(), l.timeout)
	defer cancel()
	res, err := gcraScript.Run(ctx, l.rdb, []string{l.prefix + client}, l.interval, l.burst).Int64Slice()
	if err == nil && len(res) != 2 {
		err = fmt.Errorf("unexpected reply %v", res)
	}
	if err != nil {
		l.report(err)
		return l.fallback.Allow(client)
	}
	if res[0] == 1 {
		return true, 0
	}
	return false, time.Duration(res[1]) * time.Microsecond
}

// report passes err to onError unless it did so less than reportEvery ago.
func (l *RedisLimiter) report(err error) {
	now := l.now().UnixNano()
	last := l.lastReport.Load()
	if last != 0 && now-last < int64(reportEvery) {
		return
	}
	if l.lastReport.CompareAndSwap(last, now) {
		l.onError(fmt.Errorf("throttle: redis limiter (using the in-process fallback): %w", err))
	}
}
