package s3blob

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/johannesboyne/gofakes3"
	"github.com/johannesboyne/gofakes3/backend/s3mem"
	"github.com/minio/minio-go/v7"

	"github.com/regcase/regcase/internal/config"
	"github.com/regcase/regcase/internal/pgtest"
	"github.com/regcase/regcase/internal/postgres"
	"github.com/regcase/regcase/internal/regcase"
	"github.com/regcase/regcase/internal/sqlite"
)

// TestMain stops the PostgreSQL cluster the PostgreSQL variants start.
func TestMain(m *testing.M) { pgtest.Main(m) }

const bucket = "evidence"

// switchable is a transport that fails every request while down, and
// every PUT after failPutsAfter successful ones (negative: never).
type switchable struct {
	down          atomic.Bool
	puts          atomic.Int64
	failPutsAfter atomic.Int64
}

func (s *switchable) RoundTrip(r *http.Request) (*http.Response, error) {
	if s.down.Load() {
		return nil, errors.New("connection refused (test: S3 is down)")
	}
	if r.Method == http.MethodPut {
		if n := s.puts.Add(1); s.failPutsAfter.Load() >= 0 && n > s.failPutsAfter.Load() {
			return nil, errors.New("connection reset (test: S3 went down)")
		}
	}
	return http.DefaultTransport.RoundTrip(r)
}

// fakeS3 is an in-process S3 server on 127.0.0.1 with the bucket made.
func fakeS3(t *testing.T) *httptest.Server {
	t.Helper()
	be := s3mem.New()
	if err := be.CreateBucket(bucket); err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(gofakes3.New(be).Server())
	t.Cleanup(srv.Close)
	return srv
}

type rig struct {
	store regcase.Store
	blobs *Blobs
	net   *switchable
	svc   *regcase.Service
	dbSvc *regcase.Service // the same keys, content in the database
	raw   *minio.Client    // reads the bucket behind the service's back
}

func engines(t *testing.T, f func(t *testing.T, open func(t *testing.T) regcase.Store)) {
	t.Run("sqlite", func(t *testing.T) {
		f(t, func(t *testing.T) regcase.Store {
			db, err := sqlite.Open(t.Context(), filepath.Join(t.TempDir(), "regcase.db"))
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { _ = db.Close() })
			if _, err := db.Migrate(t.Context()); err != nil {
				t.Fatal(err)
			}
			return db
		})
	})
	t.Run("postgres", func(t *testing.T) {
		if testing.Short() {
			t.Skip("short: no PostgreSQL")
		}
		f(t, func(t *testing.T) regcase.Store {
			d := pgtest.Start(t).CreateDatabase(t)
			owner, err := postgres.Open(context.Background(), d.OwnerURL, postgres.Options{MaxConns: 2})
			if err != nil {
				t.Fatal(err)
			}
			defer func() { _ = owner.Close() }()
			if _, err := owner.Migrate(context.Background()); err != nil {
				t.Fatal(err)
			}
			app, err := postgres.Open(context.Background(), d.AppURL, postgres.Options{MaxConns: 4})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { _ = app.Close() })
			return app
		})
	})
}

func newRig(t *testing.T, st regcase.Store) *rig {
	t.Helper()
	srv := fakeS3(t)
	u, _ := url.Parse(srv.URL)
	sw := &switchable{}
	sw.failPutsAfter.Store(-1)
	b, err := New(Config{Endpoint: u.Host, Bucket: bucket, AccessKeyID: "test", SecretAccessKey: "test-secret",
		PathStyle: true, Prefix: "regcase/", OrphanAge: time.Hour, Transport: sw}, StoreExists(st), nil)
	if err != nil {
		t.Fatal(err)
	}
	b.RetryEvery = 20 * time.Millisecond
	b.Fallback = st.AttachmentChunk
	if err := b.Check(t.Context()); err != nil {
		t.Fatal(err)
	}
	raw, err := minio.New(u.Host, &minio.Options{BucketLookup: minio.BucketLookupPath})
	if err != nil {
		t.Fatal(err)
	}
	key := make([]byte, 32)
	_, _ = rand.Read(key)
	kr, err := regcase.NewKeyring(key, rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	svc := regcase.NewService(regcase.Deps{Store: st, Keyring: kr, SpoolDir: t.TempDir(), Blobs: b})
	dbSvc := regcase.NewService(regcase.Deps{Store: st, Keyring: kr, SpoolDir: t.TempDir()})
	return &rig{store: st, blobs: b, net: sw, svc: svc, dbSvc: dbSvc, raw: raw}
}

func (r *rig) objects(t *testing.T) []string {
	t.Helper()
	var keys []string
	for o := range r.raw.ListObjects(t.Context(), bucket, minio.ListObjectsOptions{Recursive: true}) {
		if o.Err != nil {
			t.Fatal(o.Err)
		}
		keys = append(keys, o.Key)
	}
	return keys
}

var (
	pub = regcase.Actor{ID: "public", Role: regcase.RoleAnonymous}
	sup = regcase.Actor{ID: "token:sup", Role: regcase.RoleSupervisor}
)

func (r *rig) submit(t *testing.T) *regcase.Submission {
	t.Helper()
	sub, err := r.svc.Submit(t.Context(), pub, regcase.SubmitReport{Channel: regcase.ChannelWeb, Category: "food_safety",
		Subject: regcase.Subject{Name: "Harbour Fish"}, Description: "Fish kept without ice",
		Reporter: &regcase.Reporter{Name: "Wilhelmina Quarrington", Email: "w.q@example.org"}}, "")
	if err != nil {
		t.Fatal(err)
	}
	return sub
}

// evidence is a PDF of three chunks.
var evidence = append([]byte("%PDF-1.4\n"), bytes.Repeat([]byte("evidence "), regcase.ChunkSize/4)...)

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); !cond(); {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestAttachments(t *testing.T) {
	engines(t, func(t *testing.T, open func(t *testing.T) regcase.Store) {
		t.Run("UploadDownloadErase", func(t *testing.T) {
			r := newRig(t, open(t))
			ctx := t.Context()
			sub := r.submit(t)
			att, err := r.svc.AddPublicAttachment(ctx, pub, sub.Report.TrackingCode, sub.StatusSecret, "Quarrington statement.pdf", bytes.NewReader(evidence))
			if err != nil {
				t.Fatal(err)
			}
			keys := r.objects(t)
			if len(keys) != 3 || att.Chunks != 3 {
				t.Fatalf("objects %v for %d chunks", keys, att.Chunks)
			}
			for i, k := range keys {
				if k != "regcase/attachments/"+att.ID+"/"+string(rune('0'+i)) || strings.Contains(k, "Quarrington") {
					t.Errorf("object key %q", k)
				}
			}
			if _, err := r.store.AttachmentChunk(ctx, att.ID, 0); regcase.ErrorCodeOf(err) != regcase.ENotFound {
				t.Errorf("a chunk is in the database too: %v", err)
			}
			obj, err := r.raw.GetObject(ctx, bucket, keys[0], minio.GetObjectOptions{})
			if err != nil {
				t.Fatal(err)
			}
			stored, _ := io.ReadAll(obj)
			if bytes.Contains(stored, []byte("evidence evidence")) {
				t.Error("a chunk is stored in plain text")
			}
			got, rd, err := r.svc.OpenAttachment(ctx, sup, att.ID)
			if err != nil {
				t.Fatal(err)
			}
			plain, err := io.ReadAll(rd)
			if err != nil {
				t.Fatal(err)
			}
			sum := sha256.Sum256(evidence)
			if !bytes.Equal(plain, evidence) || !bytes.Equal(got.SHA256, sum[:]) {
				t.Fatalf("downloaded %d bytes, sha256 %x", len(plain), got.SHA256)
			}

			if _, err := r.svc.Erase(ctx, sup, sub.Report.ID, "reporter asked"); err != nil {
				t.Fatal(err)
			}
			waitFor(t, "the erased attachment's objects to go", func() bool { return len(r.objects(t)) == 0 && r.blobs.Pending() == 0 })
		})

		t.Run("FilesFromBeforeTheSwitchStayReadable", func(t *testing.T) {
			r := newRig(t, open(t))
			ctx := t.Context()
			sub := r.submit(t)
			att, err := r.dbSvc.AddPublicAttachment(ctx, pub, sub.Report.TrackingCode, sub.StatusSecret, "s.pdf", bytes.NewReader(evidence))
			if err != nil {
				t.Fatal(err)
			}
			if len(r.objects(t)) != 0 {
				t.Fatal("the database service wrote to the bucket")
			}
			_, rd, err := r.svc.OpenAttachment(ctx, sup, att.ID)
			if err != nil {
				t.Fatal(err)
			}
			if b, err := io.ReadAll(rd); err != nil || !bytes.Equal(b, evidence) {
				t.Fatalf("a file stored in the database, read with S3 on: %v", err)
			}
		})

		t.Run("TamperedObjectFailsTheDownload", func(t *testing.T) {
			r := newRig(t, open(t))
			ctx := t.Context()
			sub := r.submit(t)
			att, err := r.svc.AddPublicAttachment(ctx, pub, sub.Report.TrackingCode, sub.StatusSecret, "s.pdf", bytes.NewReader(evidence))
			if err != nil {
				t.Fatal(err)
			}
			// chunk 1 replaced by chunk 0: each is authentic, in the wrong place
			k0, k1 := r.blobs.key(att.ID, 0), r.blobs.key(att.ID, 1)
			if _, err := r.raw.CopyObject(ctx, minio.CopyDestOptions{Bucket: bucket, Object: k1}, minio.CopySrcOptions{Bucket: bucket, Object: k0}); err != nil {
				t.Fatal(err)
			}
			_, rd, err := r.svc.OpenAttachment(ctx, sup, att.ID)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := io.ReadAll(rd); err == nil || !strings.Contains(err.Error(), "chunk 1") {
				t.Fatalf("a swapped chunk was served: %v", err)
			}
			if err := r.raw.RemoveObject(ctx, bucket, k1, minio.RemoveObjectOptions{}); err != nil {
				t.Fatal(err)
			}
			_, rd, _ = r.svc.OpenAttachment(ctx, sup, att.ID)
			if _, err := io.ReadAll(rd); err == nil || !strings.Contains(err.Error(), "missing") {
				t.Fatalf("a missing chunk: %v", err)
			}
		})

		t.Run("S3DownOnUploadIs503AndLeavesNoRow", func(t *testing.T) {
			r := newRig(t, open(t))
			ctx := t.Context()
			sub := r.submit(t)
			r.net.down.Store(true)
			_, err := r.svc.AddPublicAttachment(ctx, pub, sub.Report.TrackingCode, sub.StatusSecret, "s.pdf", bytes.NewReader(evidence))
			if regcase.ErrorCodeOf(err) != regcase.EUnavailable {
				t.Fatalf("upload with S3 down: %v (code %q), want unavailable", err, regcase.ErrorCodeOf(err))
			}
			r.net.down.Store(false)
			// S3 fails after the first chunk: the transaction aborts, the
			// first chunk is an orphan
			r.net.puts.Store(0)
			r.net.failPutsAfter.Store(1)
			_, err = r.svc.AddPublicAttachment(ctx, pub, sub.Report.TrackingCode, sub.StatusSecret, "s.pdf", bytes.NewReader(evidence))
			if regcase.ErrorCodeOf(err) != regcase.EUnavailable {
				t.Fatalf("upload with S3 failing midway: %v", err)
			}
			r.net.failPutsAfter.Store(-1)
			if atts, err := r.store.ListAttachments(ctx, []string{sub.Report.ID}, ""); err != nil || len(atts) != 0 {
				t.Fatalf("half-stored attachment rows: %v %v", atts, err)
			}
			orphans := r.objects(t)
			if len(orphans) != 1 {
				t.Fatalf("want one orphan chunk, got %v", orphans)
			}
			// a committed attachment next to it
			kept, err := r.svc.AddPublicAttachment(ctx, pub, sub.Report.TrackingCode, sub.StatusSecret, "s.pdf", bytes.NewReader(evidence))
			if err != nil {
				t.Fatal(err)
			}
			if n, err := r.blobs.Sweep(ctx); err != nil || n != 0 {
				t.Fatalf("a sweep before the orphan age cleared %d (%v)", n, err)
			}
			r.blobs.skew.Store(int64(2 * time.Hour))
			if n, err := r.blobs.Sweep(ctx); err != nil || n != 1 {
				t.Fatalf("sweep cleared %d (%v), want the aborted upload", n, err)
			}
			left := r.objects(t)
			if len(left) != 3 || !strings.Contains(left[0], kept.ID) {
				t.Fatalf("after the sweep: %v", left)
			}
			if _, rd, err := r.svc.OpenAttachment(ctx, sup, kept.ID); err != nil {
				t.Fatal(err)
			} else if b, err := io.ReadAll(rd); err != nil || !bytes.Equal(b, evidence) {
				t.Fatalf("the committed attachment after the sweep: %v", err)
			}
		})

		t.Run("ErasureWhileS3IsDownDeletesLater", func(t *testing.T) {
			r := newRig(t, open(t))
			ctx := t.Context()
			sub := r.submit(t)
			att, err := r.svc.AddPublicAttachment(ctx, pub, sub.Report.TrackingCode, sub.StatusSecret, "s.pdf", bytes.NewReader(evidence))
			if err != nil {
				t.Fatal(err)
			}
			r.net.down.Store(true)
			if _, err := r.svc.Erase(ctx, sup, sub.Report.ID, "reporter asked"); err != nil {
				t.Fatalf("erasure with S3 down: %v", err)
			}
			// the row (and with it the content key) is gone at once
			if _, err := r.store.GetAttachment(ctx, att.ID); regcase.ErrorCodeOf(err) != regcase.ENotFound {
				t.Fatalf("attachment row after erasure: %v", err)
			}
			time.Sleep(100 * time.Millisecond) // a few failed attempts
			if r.blobs.Pending() != 1 || len(r.objects(t)) != 3 {
				t.Fatalf("pending %d, objects %v", r.blobs.Pending(), r.objects(t))
			}
			r.net.down.Store(false)
			waitFor(t, "the deletion retried once S3 is back", func() bool { return len(r.objects(t)) == 0 && r.blobs.Pending() == 0 })
		})

		t.Run("RolledBackErasureKeepsObjects", func(t *testing.T) {
			r := newRig(t, open(t))
			ctx := t.Context()
			sub := r.submit(t)
			att, err := r.svc.AddPublicAttachment(ctx, pub, sub.Report.TrackingCode, sub.StatusSecret, "s.pdf", bytes.NewReader(evidence))
			if err != nil {
				t.Fatal(err)
			}
			errAbort := errors.New("abort")
			err = r.store.InTx(ctx, func(tx regcase.Tx) error {
				if _, atts, err := tx.EraseReporterContent(ctx, sub.Report.ID); err != nil {
					return err
				} else if err := r.blobs.Delete(ctx, tx, atts[0]); err != nil {
					return err
				}
				return errAbort
			})
			if !errors.Is(err, errAbort) {
				t.Fatal(err)
			}
			time.Sleep(100 * time.Millisecond)
			if len(r.objects(t)) != 3 || r.blobs.Pending() != 1 {
				t.Fatalf("a rolled-back erasure deleted objects: %v", r.objects(t))
			}
			r.blobs.skew.Store(int64(2 * time.Hour))
			waitFor(t, "the rolled-back erasure to leave the queue", func() bool { return r.blobs.Pending() == 0 })
			if _, rd, err := r.svc.OpenAttachment(ctx, sup, att.ID); err != nil {
				t.Fatal(err)
			} else if b, err := io.ReadAll(rd); err != nil || !bytes.Equal(b, evidence) {
				t.Fatalf("the attachment after a rolled-back erasure: %v", err)
			}
		})
	})
}

func TestOpen(t *testing.T) {
	srv := fakeS3(t)
	u, _ := url.Parse(srv.URL)
	db, err := sqlite.Open(t.Context(), filepath.Join(t.TempDir(), "regcase.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	load := func(env map[string]string) (*config.Config, error) {
		return config.Load(func(k string) string { return env[k] }, "api")
	}
	env := map[string]string{"REGCASE_S3_ENDPOINT": srv.URL, "REGCASE_S3_ALLOW_HTTP": "true", "REGCASE_S3_BUCKET": bucket,
		"REGCASE_S3_ACCESS_KEY_ID": "k", "REGCASE_S3_SECRET_ACCESS_KEY": "s", "REGCASE_S3_PATH_STYLE": "true"}
	c, err := load(env)
	if err != nil {
		t.Fatal(err)
	}
	if c.S3.Endpoint != u.Host || c.S3.Secure {
		t.Fatalf("endpoint %q secure %v", c.S3.Endpoint, c.S3.Secure)
	}
	if b, err := Open(c.S3, db); err != nil || b == nil {
		t.Fatalf("Open: %v %v", b, err)
	}
	env["REGCASE_S3_BUCKET"] = "no-such-bucket"
	c, _ = load(env)
	var ce *config.Error
	if _, err := Open(c.S3, db); !errors.As(err, &ce) || ce.Var != "REGCASE_S3_BUCKET" {
		t.Fatalf("missing bucket: %v", err)
	}
	if b, err := Open(config.S3{}, db); err != nil || b != nil {
		t.Fatalf("no endpoint: want nil Blobs, got %v %v", b, err)
	}
}
