package app_test

import (
	"bufio"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/regcase/regcase/internal/regcase"
)

// pngMagic makes a generated file sniff as image/png.
var pngMagic = []byte("\x89PNG\r\n\x1a\n")

// genFile is size bytes of an "image": the PNG signature, then random
// bytes, produced as it is read (the client holds no copy).
func genFile(size int64) io.Reader {
	return io.MultiReader(strings.NewReader(string(pngMagic)), io.LimitReader(rand.Reader, size-int64(len(pngMagic))))
}

// procStatus reads a kB field (VmRSS, VmHWM) of /proc/self/status.
func procStatus(tb testing.TB, field string) int64 {
	tb.Helper()
	f, err := os.Open("/proc/self/status")
	if err != nil {
		tb.Skipf("no /proc: %v", err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if k, v, ok := strings.Cut(sc.Text(), ":"); ok && k == field {
			n, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			return n
		}
	}
	tb.Fatalf("no %s in /proc/self/status", field)
	return 0
}

// resetPeakRSS resets VmHWM to the current RSS (Linux: "5" into
// /proc/self/clear_refs), so the next reading is the peak of one transfer.
func resetPeakRSS(tb testing.TB) {
	tb.Helper()
	if err := os.WriteFile("/proc/self/clear_refs", []byte("5"), 0); err != nil {
		tb.Skipf("cannot reset the peak RSS: %v", err)
	}
}

// TestAttachmentThroughput measures upload and download of evidence files
// of growing size on both engines, and the process's peak RSS after each:
// streaming means the peak must not grow with the file size. It is a
// measurement, not part of the suite: REGCASE_BENCH=attachments runs it
// (BENCHMARKS.md has the command and the figures).
func TestAttachmentThroughput(t *testing.T) {
	if os.Getenv("REGCASE_BENCH") != "attachments" {
		t.Skip("set REGCASE_BENCH=attachments to measure")
	}
	sizes := []int64{1 << 20, 5 << 20, 20 << 20, 20 << 20, 100 << 20}

	// The limit of this machine in the same run: the same bytes through a
	// loopback HTTP POST into a handler that only hashes them.
	bare := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := sha256.New()
		_, _ = io.Copy(h, r.Body)
		_, _ = w.Write([]byte(hex.EncodeToString(h.Sum(nil))))
	}))
	defer bare.Close()
	start := time.Now()
	resp, err := http.Post(bare.URL, "application/octet-stream", genFile(20<<20))
	if err != nil {
		t.Fatal(err)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	t.Logf("limit: 20 MiB loopback POST into a hashing handler: %.0f MiB/s", 20/time.Since(start).Seconds())

	forEachEngine(t, func(t *testing.T, engine string) {
		ts := startServer(t, engine, "REGCASE_ATTACHMENT_MAX_BYTES=115343360")
		c := ts.createCase(t, "Throughput of evidence files")
		runtime.GC()
		t.Logf("%-8s %8s %10s %10s %12s %12s", "engine", "MiB", "up MiB/s", "down MiB/s", "VmRSS kB", "peak kB")
		t.Logf("%-8s %8s %10s %10s %12d %12d", engine, "idle", "", "", procStatus(t, "VmRSS"), procStatus(t, "VmHWM"))
		for _, size := range sizes {
			runtime.GC()
			resetPeakRSS(t)
			req := ts.request(t, http.MethodPost, "/v1/cases/"+c.ID+"/attachments?filename=big.png", regcase.RoleSupervisor, genFile(size))
			req.Header.Set("Content-Type", "application/octet-stream")
			req.ContentLength = size
			t0 := time.Now()
			r := ts.send(t, req)
			up := time.Since(t0)
			var a attachmentJSON
			r.JSON(t, &a)
			if r.Status != http.StatusCreated || a.Size != size {
				t.Fatalf("upload of %d bytes: %s", size, r)
			}
			t0 = time.Now()
			resp, err := ts.Client.Do(ts.request(t, http.MethodGet, "/v1/attachments/"+a.ID, regcase.RoleSupervisor, nil))
			if err != nil {
				t.Fatal(err)
			}
			h := sha256.New()
			n, err := io.Copy(h, resp.Body)
			resp.Body.Close()
			down := time.Since(t0)
			if err != nil || n != size || hex.EncodeToString(h.Sum(nil)) != a.SHA256 {
				t.Fatalf("download: %d bytes, %v, sha256 %x want %s", n, err, h.Sum(nil), a.SHA256)
			}
			mib := float64(size) / (1 << 20)
			t.Logf("%-8s %8.0f %10.1f %10.1f %12d %12d", engine, mib, mib/up.Seconds(), mib/down.Seconds(),
				procStatus(t, "VmRSS"), procStatus(t, "VmHWM"))
		}
	})
}
