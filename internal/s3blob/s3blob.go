// Package s3blob stores attachment content (the sealed chunks) in an
// S3-compatible bucket: an implementation of regcase.Blobs.
//
// Object keys are <prefix>attachments/<attachment id>/<chunk seq>: no
// name, no case number, nothing about the reporter. Every object is a
// chunk sealed (AES-GCM) with the attachment's content key and with the
// attachment id and sequence number as associated data, so a changed,
// swapped or truncated object fails to open; the whole file is checked
// against its recorded SHA-256 as it is read.
//
// Ordering, which the metadata in the database relies on:
//   - Put writes the object before it returns, inside the upload's
//     transaction, so a committed attachment row always has its chunks.
//     A transaction that aborts afterwards leaves orphan objects.
//   - Delete (erasure) runs inside the erasure's transaction, which may
//     still abort: it only queues the attachment; the objects are removed
//     once the row is seen gone (the transaction committed), retried while
//     S3 fails.
//   - Sweep deletes the objects of every attachment that has no row and
//     whose newest object is older than the orphan age: aborted uploads,
//     and erasures whose process stopped before their deletion went
//     through. The content key lives only in the attachment row, so an
//     object left behind is unreadable from the moment the erasure commits.
package s3blob

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"

	"github.com/regcase/regcase/internal/regcase"
)

// Config is what New needs (see internal/config's S3 for the settings).
type Config struct {
	Endpoint        string // host[:port]
	Secure          bool   // TLS
	Bucket          string
	Region          string
	AccessKeyID     string // both empty: the machine's IAM role
	SecretAccessKey string
	PathStyle       bool
	Prefix          string // "" or ending in "/"
	// OrphanAge is how old the newest object of an attachment without a
	// row must be before Sweep deletes it.
	OrphanAge time.Duration
	// Transport replaces the HTTP transport (tests); nil: minio's default.
	Transport http.RoundTripper
}

// Exists reports whether the attachment row id is in the database.
type Exists func(ctx context.Context, id string) (bool, error)

// StoreExists is Exists on a store's GetAttachment.
func StoreExists(st regcase.Store) Exists {
	return func(ctx context.Context, id string) (bool, error) {
		_, err := st.GetAttachment(ctx, id)
		switch {
		case err == nil:
			return true, nil
		case regcase.ErrorCodeOf(err) == regcase.ENotFound:
			return false, nil
		default:
			return false, err
		}
	}
}

// Blobs is the S3 implementation of regcase.Blobs.
type Blobs struct {
	client    *minio.Client
	bucket    string
	prefix    string
	orphanAge time.Duration
	exists    Exists
	log       *slog.Logger
	// skew is added to the clock (tests age objects with it).
	skew atomic.Int64

	// erasures waiting for their transaction to commit (id → when queued)
	mu      sync.Mutex
	pending map[string]time.Time
	wake    chan struct{}
	once    sync.Once
	// Fallback, when set, reads a chunk the bucket does not have from
	// elsewhere: the database, for files uploaded before S3 was configured.
	Fallback func(ctx context.Context, id string, seq int) ([]byte, error)
	// RetryEvery is the pause between two passes over the pending
	// erasures (default 5s); tests shorten it.
	RetryEvery time.Duration
}

// New returns the Blobs of a bucket; exists tells Sweep and the erasure
// queue whether an attachment row is (still) there. It does not contact
// the server (Check does).
func New(c Config, exists Exists, log *slog.Logger) (*Blobs, error) {
	if c.Bucket == "" {
		return nil, errors.New("no bucket")
	}
	if log == nil {
		log = slog.Default()
	}
	creds := credentials.NewIAM("")
	if c.AccessKeyID != "" {
		creds = credentials.NewStaticV4(c.AccessKeyID, c.SecretAccessKey, "")
	}
	lookup := minio.BucketLookupAuto
	if c.PathStyle {
		lookup = minio.BucketLookupPath
	}
	cl, err := minio.New(c.Endpoint, &minio.Options{Creds: creds, Secure: c.Secure, Region: c.Region,
		BucketLookup: lookup, Transport: c.Transport, MaxRetries: 3})
	if err != nil {
		return nil, err
	}
	if c.OrphanAge <= 0 {
		c.OrphanAge = 24 * time.Hour
	}
	return &Blobs{client: cl, bucket: c.Bucket, prefix: c.Prefix, orphanAge: c.OrphanAge, exists: exists, log: log,
		pending: map[string]time.Time{}, wake: make(chan struct{}, 1), RetryEvery: 5 * time.Second}, nil
}

var _ regcase.Blobs = (*Blobs)(nil)

func (b *Blobs) now() time.Time { return time.Now().Add(time.Duration(b.skew.Load())) }

func (b *Blobs) dir(id string) string { return b.prefix + "attachments/" + id + "/" }

func (b *Blobs) key(id string, seq int) string { return b.dir(id) + strconv.Itoa(seq) }

// unavailable is the error of a request S3 did not answer as it should: a
// 503 for the client (try again later); the cause stays in the log.
func unavailable(op string, err error) error {
	return &regcase.Error{Code: regcase.EUnavailable, Message: "the file store is not reachable; try again later",
		Err: fmt.Errorf("s3 %s: %w", op, err)}
}

// Check asks the server whether the bucket exists with these credentials:
// a wrong bucket, key or region is an error; an unreachable server is too
// (the caller decides whether that stops the start).
func (b *Blobs) Check(ctx context.Context) error {
	ok, err := b.client.BucketExists(ctx, b.bucket)
	if err != nil {
		return fmt.Errorf("bucket %s: %w", b.bucket, err)
	}
	if !ok {
		return fmt.Errorf("bucket %s: %w", b.bucket, errNoBucket)
	}
	return nil
}

var errNoBucket = errors.New("the bucket does not exist")

// Put writes chunk seq of a before returning (the transaction commits
// after). tx is not used: the object is outside the database.
func (b *Blobs) Put(ctx context.Context, _ regcase.Tx, a *regcase.Attachment, seq int, sealed []byte) error {
	if strings.ContainsAny(a.ID, "/\\") || a.ID == "" {
		return regcase.Internal(fmt.Errorf("attachment id %q cannot name an object", a.ID))
	}
	_, err := b.client.PutObject(ctx, b.bucket, b.key(a.ID, seq), bytes.NewReader(sealed), int64(len(sealed)),
		minio.PutObjectOptions{ContentType: "application/octet-stream", DisableMultipart: true, SendContentMd5: true})
	if err != nil {
		return unavailable("put", err)
	}
	return nil
}

// maxObject bounds what Get reads of one object.
const maxObject = regcase.ChunkSize + regcase.SealedOverhead

// Get reads chunk seq of a. The caller opens it with the content key,
// which authenticates it (and its place in the file).
func (b *Blobs) Get(ctx context.Context, a *regcase.Attachment, seq int) ([]byte, error) {
	obj, err := b.client.GetObject(ctx, b.bucket, b.key(a.ID, seq), minio.GetObjectOptions{})
	if err != nil {
		return nil, unavailable("get", err)
	}
	defer obj.Close()
	data, err := io.ReadAll(io.LimitReader(obj, maxObject+1))
	if err != nil {
		if minio.ToErrorResponse(err).Code == "NoSuchKey" {
			if b.Fallback != nil { // uploaded before the bucket was configured?
				if data, ferr := b.Fallback(ctx, a.ID, seq); ferr == nil {
					return data, nil
				}
			}
			return nil, regcase.Internal(fmt.Errorf("attachment %s chunk %d is missing from bucket %s", a.ID, seq, b.bucket))
		}
		return nil, unavailable("get", err)
	}
	if len(data) > maxObject {
		return nil, regcase.Internal(fmt.Errorf("attachment %s chunk %d: object larger than a sealed chunk", a.ID, seq))
	}
	return data, nil
}

// Delete queues the objects of a for deletion once the erasure's
// transaction has committed (the row is gone); it never fails the erasure.
func (b *Blobs) Delete(_ context.Context, _ regcase.Tx, a *regcase.Attachment) error {
	b.once.Do(func() { go b.eraser() })
	b.mu.Lock()
	b.pending[a.ID] = b.now()
	b.mu.Unlock()
	select {
	case b.wake <- struct{}{}:
	default:
	}
	return nil
}

// Pending is the number of erasures whose objects are not deleted yet.
func (b *Blobs) Pending() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return len(b.pending)
}

// eraser deletes the objects of queued erasures, for the life of the
// process: at once when woken (the row may already be gone), then every
// RetryEvery. An attachment whose row is still there after the orphan age
// had its erasure rolled back and leaves the queue.
func (b *Blobs) eraser() {
	t := time.NewTicker(b.RetryEvery)
	defer t.Stop()
	for {
		select {
		case <-b.wake:
			// give the erasure's transaction a moment to commit
			time.Sleep(min(b.RetryEvery, 200*time.Millisecond))
		case <-t.C:
		}
		b.erasePending(context.Background())
	}
}

func (b *Blobs) erasePending(ctx context.Context) {
	b.mu.Lock()
	ids := make(map[string]time.Time, len(b.pending))
	for id, at := range b.pending {
		ids[id] = at
	}
	b.mu.Unlock()
	for id, at := range ids {
		ctx, cancel := context.WithTimeout(ctx, time.Minute)
		done, err := b.eraseOne(ctx, id, at)
		cancel()
		if err != nil {
			b.log.Warn("erased attachment: objects not deleted yet, will retry", slog.String("attachment_id", id), slog.Any("err", err))
		}
		if done {
			b.mu.Lock()
			if b.pending[id] == at {
				delete(b.pending, id)
			}
			b.mu.Unlock()
		}
	}
}

// eraseOne deletes the objects of id if its row is gone; done means the
// id leaves the queue.
func (b *Blobs) eraseOne(ctx context.Context, id string, queued time.Time) (done bool, err error) {
	ok, err := b.exists(ctx, id)
	if err != nil {
		return false, err
	}
	if ok { // not committed yet, or rolled back
		return b.now().Sub(queued) > b.orphanAge, nil
	}
	if _, err := b.removeAll(ctx, id); err != nil {
		// After the orphan age the sweep takes over (hourly, not every
		// few seconds): an object lock, say, may refuse for long.
		return b.now().Sub(queued) > b.orphanAge, err
	}
	return true, nil
}

// removeAll deletes every object of attachment id and returns how many.
func (b *Blobs) removeAll(ctx context.Context, id string) (int, error) {
	var keys []string
	for o := range b.client.ListObjects(ctx, b.bucket, minio.ListObjectsOptions{Prefix: b.dir(id), Recursive: true}) {
		if o.Err != nil {
			return 0, o.Err
		}
		keys = append(keys, o.Key)
	}
	return len(keys), b.remove(ctx, keys)
}

func (b *Blobs) remove(ctx context.Context, keys []string) error {
	for _, k := range keys {
		if err := b.client.RemoveObject(ctx, b.bucket, k, minio.RemoveObjectOptions{}); err != nil {
			return err
		}
	}
	return nil
}

// Sweep deletes the objects of every attachment that has no row and whose
// newest object is older than the orphan age, and returns how many
// attachments it cleared. Many processes may sweep at once: deletes are
// idempotent.
func (b *Blobs) Sweep(ctx context.Context) (int, error) {
	type group struct {
		newest time.Time
		keys   []string
	}
	groups := map[string]*group{}
	root := b.prefix + "attachments/"
	for o := range b.client.ListObjects(ctx, b.bucket, minio.ListObjectsOptions{Prefix: root, Recursive: true}) {
		if o.Err != nil {
			return 0, unavailable("list", o.Err)
		}
		id, _, ok := strings.Cut(strings.TrimPrefix(o.Key, root), "/")
		if !ok || id == "" {
			continue // not ours
		}
		g := groups[id]
		if g == nil {
			g = &group{}
			groups[id] = g
		}
		if o.LastModified.After(g.newest) {
			g.newest = o.LastModified
		}
		g.keys = append(g.keys, o.Key)
	}
	cleared := 0
	for id, g := range groups {
		if b.now().Sub(g.newest) < b.orphanAge {
			continue
		}
		ok, err := b.exists(ctx, id)
		if err != nil {
			return cleared, err
		}
		if ok {
			continue
		}
		if err := b.remove(ctx, g.keys); err != nil {
			return cleared, unavailable("delete", err)
		}
		b.log.Info("deleted orphan attachment objects", slog.String("attachment_id", id), slog.Int("objects", len(g.keys)))
		cleared++
	}
	return cleared, nil
}

// RunSweeper sweeps every interval until ctx ends; failures are logged
// and the next sweep tries again.
func (b *Blobs) RunSweeper(ctx context.Context, every time.Duration) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if _, err := b.Sweep(ctx); err != nil && ctx.Err() == nil {
				b.log.Warn("attachment object sweep failed; the next sweep tries again", slog.Any("err", err))
			}
		}
	}
}
