package stream

import (
	"context"
	"errors"
	"strings"

	"github.com/redis/go-redis/v9"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"

	"github.com/regcase/regcase/internal/telemetry"
)

// traceHook makes a client span per Redis command and per pipeline when
// the caller's context holds a recording span: db.system.name=redis and
// the command name (db.operation.name); never keys, arguments or payloads.
type traceHook struct{}

var _ redis.Hook = traceHook{}

func (traceHook) DialHook(next redis.DialHook) redis.DialHook { return next }

func (traceHook) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		op := strings.ToUpper(cmd.Name())
		ctx, end := telemetry.StartClient(ctx, op, telemetry.Redis, semconv.DBOperationName(op))
		err := next(ctx, cmd)
		end(redisErr(err))
		return err
	}
}

func (traceHook) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		op := "PIPELINE"
		if len(cmds) > 0 {
			op += " " + strings.ToUpper(cmds[0].Name())
		}
		ctx, end := telemetry.StartClient(ctx, op, telemetry.Redis, semconv.DBOperationName(op),
			semconv.DBOperationBatchSize(len(cmds)))
		err := next(ctx, cmds)
		end(redisErr(err))
		return err
	}
}

// redisErr is err unless it only means "no such key / nothing to read".
func redisErr(err error) error {
	if errors.Is(err, redis.Nil) {
		return nil
	}
	return err
}
