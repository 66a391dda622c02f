package app_test

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/regcase/regcase/internal/app"
)

// TestWorkerSignsCheckpoints: `regcase worker` serves its health, signs a
// checkpoint over the chains the API wrote, and stops cleanly on SIGTERM;
// `audit verify` then checks the signature.
func TestWorkerSignsCheckpoints(t *testing.T) {
	api := startServer(t, "sqlite")
	api.submitReport(t, "anonymous", "worker test")
	env := copyEnv(api.env)
	env["REGCASE_HTTP_ADDR"] = "127.0.0.1:0"
	env["REGCASE_AUDIT_CHECKPOINT_INTERVAL"] = "100ms"
	env["REGCASE_DATA_DIR"] = filepath.Dir(strings.TrimPrefix(env["DATABASE_URL"], "sqlite://"))
	ctx, cancel := context.WithCancel(context.Background())
	var out, errOut syncBuffer
	done := make(chan int, 1)
	go func() { done <- app.Run(ctx, []string{"worker"}, lookup(env), &out, &errOut) }()
	deadline := time.Now().Add(15 * time.Second)
	for !strings.Contains(errOut.String(), "audit checkpoint signed") {
		if time.Now().After(deadline) {
			cancel()
			t.Fatalf("worker signed no checkpoint:\n%s", tail(errOut.String(), 3000))
		}
		time.Sleep(50 * time.Millisecond)
	}
	cancel()
	select {
	case code := <-done:
		if code != 0 {
			t.Fatalf("worker exited %d:\n%s", code, tail(errOut.String(), 2000))
		}
	case <-time.After(10 * time.Second):
		t.Fatal("worker did not stop within 10s of SIGTERM")
	}
	code, stdout, stderr := api.CLIEnv(t, map[string]string{"REGCASE_DATA_DIR": env["REGCASE_DATA_DIR"]}, "audit", "verify")
	if code != 0 || !strings.Contains(stdout, "signatures checked") || strings.Contains(stdout, "checkpoints: 0 ") || !strings.Contains(stdout, "audit log OK") {
		t.Fatalf("audit verify after the worker's checkpoint: exit %d\n%s\n%s", code, stdout, stderr)
	}
}
