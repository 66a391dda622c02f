package throttle

import "time"

// Allower decides whether a client may go on now and, when not, how long
// it should wait. *Limiter keeps the budget in this process; *RedisLimiter
// shares it across processes.
type Allower interface {
	Allow(client string) (bool, time.Duration)
}

var (
	_ Allower = (*Limiter)(nil)
	_ Allower = (*RedisLimiter)(nil)
)
