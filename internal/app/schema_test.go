package app_test

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/regcase/regcase/internal/app"
	"github.com/regcase/regcase/internal/pgtest"
)

// TestAPIWaitsForMigrations: `regcase api` on an unmigrated PostgreSQL
// database starts, answers live but not ready, says why in one log line,
// and turns ready by itself once `regcase migrate` has run — no restart.
func TestAPIWaitsForMigrations(t *testing.T) {
	ownerURL, appURL := pgtest.Start(t).NewDatabase(t)
	env := map[string]string{
		"REGCASE_ENV": "test", "REGCASE_HTTP_ADDR": "127.0.0.1:0", "LOG_FORMAT": "json",
		"REGCASE_DATA_DIR": t.TempDir(), "REGCASE_DATA_KEY": randomKey(t), "DATABASE_URL": appURL,
	}
	ctx, cancel := context.WithCancel(context.Background())
	ts := &testServer{Stderr: &syncBuffer{}, Stdout: &syncBuffer{}, env: env, cancel: cancel, done: make(chan int, 1),
		Client: &http.Client{Timeout: 10 * time.Second}}
	go func() { ts.done <- app.Run(ctx, []string{"api"}, lookup(env), ts.Stdout, ts.Stderr) }()
	t.Cleanup(func() { ts.Stop(t) })
	ts.URL = ts.waitServing(t)

	status := func(path string) int {
		resp, err := ts.Client.Get(ts.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if got, want := status("/health/live"), 200; got != want {
		t.Fatalf("live = %d, want %d", got, want)
	}
	if got, want := status("/health/ready"), 503; got != want {
		t.Fatalf("ready before migrate = %d, want %d", got, want)
	}
	if !strings.Contains(ts.Stderr.String(), "regcase migrate") {
		t.Errorf("no log line telling to run `regcase migrate`:\n%s", tail(ts.Stderr.String(), 2000))
	}
	menv := copyEnv(env)
	menv["DATABASE_URL"] = ownerURL
	var mout, merr syncBuffer
	if code := app.Run(context.Background(), []string{"migrate"}, lookup(menv), &mout, &merr); code != 0 {
		t.Fatalf("migrate exited %d: %s", code, merr.String())
	}
	deadline := time.Now().Add(10 * time.Second)
	for status("/health/ready") != 200 {
		if time.Now().After(deadline) {
			t.Fatal("api did not become ready after migrate")
		}
		time.Sleep(100 * time.Millisecond)
	}
}
