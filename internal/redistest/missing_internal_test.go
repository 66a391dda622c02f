package redistest

import (
	"fmt"
	"runtime"
	"strings"
	"testing"
)

// recordingTB stands in for a testing.TB to see whether Start skips or fails.
type recordingTB struct {
	testing.TB
	skipped, failed string
}

func (r *recordingTB) Helper() {}
func (r *recordingTB) Skipf(format string, args ...any) {
	r.skipped = fmt.Sprintf(format, args...)
	runtime.Goexit()
}
func (r *recordingTB) Fatalf(format string, args ...any) {
	r.failed = fmt.Sprintf(format, args...)
	runtime.Goexit()
}

func startWithoutServer(t *testing.T) *recordingTB {
	t.Helper()
	t.Setenv("PATH", t.TempDir())
	old := serverPaths
	serverPaths = nil
	t.Cleanup(func() { serverPaths = old })
	rec := &recordingTB{TB: t}
	done := make(chan struct{})
	go func() {
		defer close(done)
		Start(rec)
	}()
	<-done
	return rec
}

func TestMissingServer(t *testing.T) {
	t.Run("Skip", func(t *testing.T) {
		t.Setenv(EnvRequire, "")
		rec := startWithoutServer(t)
		if rec.failed != "" || !strings.Contains(rec.skipped, "scripts/install-test-deps.sh") {
			t.Errorf("skipped %q, failed %q; want a skip naming scripts/install-test-deps.sh", rec.skipped, rec.failed)
		}
	})
	t.Run("FailWhenRequired", func(t *testing.T) {
		t.Setenv(EnvRequire, "1")
		rec := startWithoutServer(t)
		if rec.skipped != "" || !strings.Contains(rec.failed, "scripts/install-test-deps.sh") {
			t.Errorf("skipped %q, failed %q; want a failure naming scripts/install-test-deps.sh", rec.skipped, rec.failed)
		}
	})
}
