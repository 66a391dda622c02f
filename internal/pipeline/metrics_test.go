package pipeline_test

import (
	"net"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"

	"github.com/regcase/regcase/internal/pipeline"
	"github.com/regcase/regcase/internal/stream"
)

// While Redis is unreachable the scrape must still succeed (the outbox
// backlog is what an operator needs to see then), with regcase_stream_up 0.
func TestStreamMetricsWithRedisDown(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	_ = l.Close() // nothing listens there any more: connections are refused
	rdb := redis.NewClient(&redis.Options{Addr: addr, MaxRetries: -1, ContextTimeoutEnabled: true})
	defer rdb.Close()

	reg := prometheus.NewPedanticRegistry()
	m := pipeline.NewMetrics(reg)
	m.RegisterStream(stream.New(rdb, stream.Options{}))
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatalf("gather with Redis down failed (a /metrics 500 hides every other series): %v", err)
	}
	var up *float64
	for _, mf := range mfs {
		switch mf.GetName() {
		case "regcase_stream_up":
			v := mf.GetMetric()[0].GetGauge().GetValue()
			up = &v
		case "regcase_stream_length_events":
			t.Errorf("regcase_stream_length_events exported although Redis is down")
		}
	}
	if up == nil || *up != 0 {
		t.Fatalf("regcase_stream_up = %v, want 0", up)
	}
}
