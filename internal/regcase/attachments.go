package regcase

import (
	"bufio"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"net/http"
	"net/url"
	"os"
	"path"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
)

// Attachment is an evidence file on a report (sent by its reporter, at
// intake or later through the channel) or on a case (by an officer). Its
// content is stored in chunks of ChunkSize bytes, each encrypted with the
// attachment's content key; the metadata carries the SHA-256 of the
// plaintext, which the audit record of the upload also holds (chain of
// custody).
type Attachment struct {
	ID       string
	ReportID string // exactly one of ReportID and CaseID is set
	CaseID   string
	Filename string // sanitised (SanitizeFilename); filled by the service
	// FilenameCipher is the name as stored: sealed with the attachment's
	// content key, so erasure shreds it with the content.
	FilenameCipher []byte
	ContentType    string // sniffed, never the client's claim
	Size           int64
	SHA256         []byte
	Chunks         int
	WrappedKey     []byte
	UploadedBy     string // actor id; "public" for the reporter
	CreatedAt      time.Time
}

// ChunkSize is the plaintext size of one stored chunk.
const ChunkSize = 256 << 10

// DefaultAttachmentMaxBytes is the default upload limit (25 MiB).
const DefaultAttachmentMaxBytes = 25 << 20

// AllowedAttachmentTypes are the sniffed content types an evidence file may
// have (net/http.DetectContentType names). HTML is a type no browser may
// render from us: it is accepted (a saved web page can be evidence) and always
// served as application/octet-stream. Unknown binaries (executables sniff
// as application/octet-stream), archives other than ZIP, fonts, XML and
// scripts are refused.
var AllowedAttachmentTypes = []string{
	"image/jpeg", "image/png", "image/gif", "image/webp", "image/bmp",
	"application/pdf", "text/plain; charset=utf-8", "text/plain; charset=utf-16be", "text/plain; charset=utf-16le",
	"text/html; charset=utf-8", "application/zip", "audio/mpeg", "audio/wave", "video/mp4", "video/webm", "application/ogg",
}

// SniffType returns the content type of a file from its first bytes
// (net/http.DetectContentType) and whether it is in the allow-list.
func SniffType(head []byte) (string, bool) {
	ct := http.DetectContentType(head)
	return ct, slices.Contains(AllowedAttachmentTypes, ct)
}

// SanitizeFilename makes a client's file name safe to store and to put in a
// Content-Disposition header: the last path element only (both / and \ are
// separators), no control or format characters (bidi overrides), no
// leading dots, at most 200 characters; "" becomes "attachment".
func SanitizeFilename(name string) string {
	name = strings.ToValidUTF8(name, "")
	name = strings.ReplaceAll(name, "\\", "/")
	name = path.Base("/" + name)
	name = strings.Map(func(r rune) rune {
		if unicode.IsControl(r) || unicode.Is(unicode.Cf, r) || r == '"' || r == utf8.RuneError {
			return -1
		}
		return r
	}, name)
	name = strings.TrimSpace(strings.TrimLeft(name, ". "))
	if r := []rune(name); len(r) > 200 {
		name = string(r[len(r)-200:])
	}
	if name == "" || name == "/" {
		return "attachment"
	}
	return name
}

// DownloadType is the Content-Type a download is served with: the sniffed
// type for the kinds a browser shows only as what they are (images, PDF,
// audio, video, ZIP), application/octet-stream for text, HTML and anything
// else, so no file is ever rendered as a page of ours.
func DownloadType(sniffed string) string {
	switch {
	case strings.HasPrefix(sniffed, "image/"), strings.HasPrefix(sniffed, "audio/"), strings.HasPrefix(sniffed, "video/"),
		sniffed == "application/pdf", sniffed == "application/zip", sniffed == "application/ogg":
		return sniffed
	}
	return "application/octet-stream"
}

// ContentDisposition is "attachment" with the name as RFC 6266 filename*
// (UTF-8, percent-encoded) and an ASCII fallback; never "inline".
func ContentDisposition(name string) string {
	ascii := strings.Map(func(r rune) rune {
		if r < 0x20 || r > 0x7e || r == '"' || r == '\\' || r == '%' || r == ';' {
			return '_'
		}
		return r
	}, name)
	return fmt.Sprintf(`attachment; filename="%s"; filename*=UTF-8''%s`, ascii, strings.ReplaceAll(url.PathEscape(name), "'", "%27"))
}

// DownloadHeaders are the response headers of an attachment download (API
// and console alike): attachment disposition, no sniffing, a sandboxing CSP,
// no caching, the length and the recorded SHA-256 (X-Content-SHA256, hex).
func DownloadHeaders(a *Attachment) http.Header {
	return http.Header{
		"Content-Type":            {DownloadType(a.ContentType)},
		"Content-Disposition":     {ContentDisposition(a.Filename)},
		"X-Content-Type-Options":  {"nosniff"},
		"Content-Security-Policy": {"default-src 'none'; sandbox"},
		"Content-Length":          {strconv.FormatInt(a.Size, 10)},
		"X-Content-Sha256":        {hex.EncodeToString(a.SHA256)},
		"Cache-Control":           {"no-store"},
	}
}

// Blobs stores attachment content. The database stores hold it themselves
// (chunk rows written in the metadata's transaction); an S3-compatible
// store would implement this interface (put the sealed chunks before the
// metadata commits, delete them on erasure).
type Blobs interface {
	// Put stores chunk seq of attachment a within tx.
	Put(ctx context.Context, tx Tx, a *Attachment, seq int, sealed []byte) error
	// Get returns chunk seq of a.
	Get(ctx context.Context, a *Attachment, seq int) ([]byte, error)
	// Delete removes every chunk of a (erasure) within tx.
	Delete(ctx context.Context, tx Tx, a *Attachment) error
}

// storeBlobs keeps content in the database's attachment_chunks table.
type storeBlobs struct{ store Store }

func (b storeBlobs) Put(ctx context.Context, tx Tx, a *Attachment, seq int, sealed []byte) error {
	return tx.InsertAttachmentChunk(ctx, a.ID, seq, sealed)
}

func (b storeBlobs) Get(ctx context.Context, a *Attachment, seq int) ([]byte, error) {
	return b.store.AttachmentChunk(ctx, a.ID, seq)
}

// Delete has nothing left to do: Tx.EraseReporterContent deleted the rows.
func (b storeBlobs) Delete(context.Context, Tx, *Attachment) error { return nil }

func (s *Service) blobs() Blobs {
	if s.cfg.Blobs != nil {
		return s.cfg.Blobs
	}
	return storeBlobs{s.cfg.Store}
}

func (s *Service) maxAttachment() int64 {
	if s.cfg.AttachmentMaxBytes > 0 {
		return s.cfg.AttachmentMaxBytes
	}
	return DefaultAttachmentMaxBytes
}

func chunkAD(id string, seq int) []byte { return []byte(id + ":" + strconv.Itoa(seq)) }

// spool is an upload read to its end: sealed chunks in a temporary file
// (the plaintext never touches the disk), its size, hash and sniffed type.
type spool struct {
	file   *os.File
	chunks int
}

func (sp *spool) close() {
	if sp.file != nil {
		_ = sp.file.Close()
		_ = os.Remove(sp.file.Name())
	}
}

// readUpload streams body into a spool: it sniffs the type from the first
// chunk (EUnsupportedType before reading further), hashes, seals each chunk
// with key and stops with ETooLarge as soon as the limit is passed. Memory
// use is one chunk, whatever the file size.
func (s *Service) readUpload(att *Attachment, key *ContentKey, body io.Reader) (*spool, error) {
	f, err := os.CreateTemp(s.cfg.SpoolDir, "regcase-upload-*")
	if err != nil {
		return nil, Internal(fmt.Errorf("spool upload: %w", err))
	}
	sp := &spool{file: f}
	w := bufio.NewWriterSize(f, 64<<10)
	h := sha256.New()
	buf := make([]byte, ChunkSize)
	sealed := make([]byte, 0, ChunkSize+SealedOverhead)
	max := s.maxAttachment()
	for {
		n, rerr := io.ReadFull(body, buf)
		if rerr != nil && !errors.Is(rerr, io.EOF) && !errors.Is(rerr, io.ErrUnexpectedEOF) {
			sp.close()
			var mb *http.MaxBytesError
			if errors.As(rerr, &mb) {
				return nil, Errorf(ETooLarge, "the upload is larger than %d bytes", max)
			}
			return nil, Errorf(EInvalid, "the upload could not be read: %v", rerr)
		}
		if n == 0 {
			break
		}
		if att.Size == 0 {
			ct, ok := SniffType(buf[:n])
			if !ok {
				sp.close()
				return nil, Errorf(EUnsupportedType, "files of type %s are not accepted (allowed: images, PDF, plain text, HTML, ZIP, audio, video)", ct)
			}
			att.ContentType = ct
		}
		att.Size += int64(n)
		if att.Size > max {
			sp.close()
			return nil, Errorf(ETooLarge, "the upload is larger than %d bytes", max)
		}
		h.Write(buf[:n])
		sealed, err = key.SealTo(sealed, buf[:n], chunkAD(att.ID, sp.chunks))
		if err != nil {
			sp.close()
			return nil, Internal(err)
		}
		var l [4]byte
		binary.BigEndian.PutUint32(l[:], uint32(len(sealed)))
		if _, err := w.Write(l[:]); err != nil {
			sp.close()
			return nil, spoolFull(err)
		}
		if _, err := w.Write(sealed); err != nil {
			sp.close()
			return nil, spoolFull(err)
		}
		sp.chunks++
		if n < len(buf) {
			break
		}
	}
	if att.Size == 0 {
		sp.close()
		return nil, FieldError("file", "the upload is empty")
	}
	if err := w.Flush(); err != nil {
		sp.close()
		return nil, spoolFull(err)
	}
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		sp.close()
		return nil, Internal(err)
	}
	att.SHA256, att.Chunks = h.Sum(nil), sp.chunks
	return sp, nil
}

// spoolFull is the error of a spool write that failed (a full disk):
// EUnavailable, so the client retries later rather than seeing a 500.
func spoolFull(err error) error {
	return &Error{Code: EUnavailable, Message: "the server cannot take the file right now; try again later",
		Err: fmt.Errorf("spool upload: %w", err)}
}

// storeUpload writes the attachment and its chunks from the spool, and the
// audit record (the SHA-256, size and sniffed type — never the file name,
// which may name the reporter) and event, in tx.
func (s *Service) storeUpload(ctx context.Context, tx Tx, a Actor, att *Attachment, sp *spool, entityType, entityID, action string) error {
	if err := tx.InsertAttachment(ctx, att); err != nil {
		return err
	}
	r := bufio.NewReaderSize(sp.file, 64<<10)
	buf := make([]byte, ChunkSize+SealedOverhead)
	for seq := 0; seq < sp.chunks; seq++ {
		var l [4]byte
		if _, err := io.ReadFull(r, l[:]); err != nil {
			return Internal(fmt.Errorf("read spool: %w", err))
		}
		n := binary.BigEndian.Uint32(l[:])
		if int(n) > len(buf) {
			return Internal(fmt.Errorf("spool chunk of %d bytes", n))
		}
		if _, err := io.ReadFull(r, buf[:n]); err != nil {
			return Internal(fmt.Errorf("read spool: %w", err))
		}
		if err := s.blobs().Put(ctx, tx, att, seq, buf[:n]); err != nil {
			return err
		}
	}
	return s.record(ctx, tx, a, att.CreatedAt, change{action: action, entityType: entityType, entityID: entityID,
		data: map[string]any{"attachment_id": att.ID, "sha256": fmt.Sprintf("%x", att.SHA256), "size": att.Size,
			"content_type": att.ContentType, "report_id": att.ReportID, "case_id": att.CaseID}})
}

// upload runs an upload for a new attachment: spool, then one transaction
// in which lock re-checks the target, the rows and the audit record are
// written. Nothing is stored when any step fails.
func (s *Service) upload(ctx context.Context, a Actor, att *Attachment, filename string, body io.Reader,
	lock func(tx Tx) (entityType, entityID, action string, err error)) (*Attachment, error) {
	att.ID, att.Filename, att.UploadedBy, att.CreatedAt = s.cfg.NewID(), SanitizeFilename(filename), a.ID, s.now()
	key, wrapped, err := s.cfg.Keyring.NewContentKey("attachment:" + att.ID)
	if err != nil {
		return nil, Internal(err)
	}
	att.WrappedKey = wrapped
	if att.FilenameCipher, err = key.Seal([]byte(att.Filename), []byte(att.ID+":name")); err != nil {
		return nil, Internal(err)
	}
	sp, err := s.readUpload(att, key, body)
	if err != nil {
		return nil, err
	}
	defer sp.close()
	err = s.cfg.Store.InTx(ctx, func(tx Tx) error {
		if _, err := sp.file.Seek(0, io.SeekStart); err != nil { // InTx may run fn again
			return Internal(err)
		}
		et, eid, action, err := lock(tx)
		if err != nil {
			return err
		}
		return s.storeUpload(ctx, tx, a, att, sp, et, eid, action)
	})
	if err != nil {
		return nil, err
	}
	return att, nil
}

// AddPublicAttachment stores an evidence file the reporter sends with the
// tracking code and status secret. Errors: ENotFound (unknown code or
// wrong secret), ETooLarge, EUnsupportedType, EInvalid (empty).
func (s *Service) AddPublicAttachment(ctx context.Context, a Actor, tracking, secret, filename string, body io.Reader) (*Attachment, error) {
	if err := Authorize(a, ActReportPublicView); err != nil {
		return nil, err
	}
	r, err := s.publicReport(ctx, tracking, secret)
	if err != nil {
		return nil, err
	}
	return s.AddReportAttachment(ctx, a, r.ID, filename, body)
}

// MaxReportAttachments bounds the files one report's reporter may send, so
// an anonymous channel cannot fill the database.
const MaxReportAttachments = 20

// AddReportAttachment stores an evidence file on a report, sent by its
// reporter: at intake (the caller has just submitted the report) or through
// the channel; at most MaxReportAttachments per report (EConflict beyond).
// Callers authenticate the reporter first. The audit record
// goes on the case's chain once the report has a case (so the custody of
// every file of a case is in its timeline), else on the report's. Errors:
// as AddPublicAttachment.
func (s *Service) AddReportAttachment(ctx context.Context, a Actor, reportID, filename string, body io.Reader) (*Attachment, error) {
	if n, err := s.cfg.Store.ListAttachments(ctx, []string{reportID}, ""); err != nil {
		return nil, err
	} else if len(n) >= MaxReportAttachments {
		return nil, Errorf(EConflict, "this report already has %d files, the most one report may have", len(n))
	}
	return s.upload(ctx, a, &Attachment{ReportID: reportID}, filename, body, func(tx Tx) (string, string, string, error) {
		r, err := tx.LockReport(ctx, reportID)
		if err != nil {
			return "", "", "", err
		}
		if r.CaseID != "" { // custody shows in the case's own timeline
			return "case", r.CaseID, "case.attachment_added", nil
		}
		return "report", reportID, "report.attachment_added", nil
	})
}

// AddCaseAttachment stores an officer's evidence file on a case. Errors:
// EForbidden, EObjectForbidden, ENotFound, ETooLarge, EUnsupportedType,
// EInvalid.
func (s *Service) AddCaseAttachment(ctx context.Context, a Actor, caseID, filename string, body io.Reader) (*Attachment, error) {
	if _, err := s.caseFor(ctx, a, ActCaseAttachmentAdd, caseID); err != nil {
		return nil, err
	}
	return s.upload(ctx, a, &Attachment{CaseID: caseID}, filename, body, func(tx Tx) (string, string, string, error) {
		c, err := tx.LockCase(ctx, caseID)
		if err != nil {
			return "", "", "", err
		}
		if err := s.cfg.Lifecycle.CheckCaseAction(a, ActCaseAttachmentAdd, c.Number, c.Assignee); err != nil {
			return "", "", "", err
		}
		return "case", caseID, "case.attachment_added", nil
	})
}

// openNames decrypts the stored names of attachments read from the store.
func (s *Service) openNames(atts []*Attachment) ([]*Attachment, error) {
	for _, a := range atts {
		key, err := s.cfg.Keyring.OpenContentKey("attachment:"+a.ID, a.WrappedKey)
		if err != nil {
			return nil, Internal(err)
		}
		name, err := key.Open(a.FilenameCipher, []byte(a.ID+":name"))
		if err != nil {
			return nil, Internal(fmt.Errorf("attachment %s name: %w", a.ID, err))
		}
		a.Filename = string(name)
	}
	return atts, nil
}

// listAttachments is Store.ListAttachments with the names decrypted.
func (s *Service) listAttachments(ctx context.Context, reportIDs []string, caseID string) ([]*Attachment, error) {
	atts, err := s.cfg.Store.ListAttachments(ctx, reportIDs, caseID)
	if err != nil {
		return nil, err
	}
	return s.openNames(atts)
}

// attachmentCase returns the case an attachment belongs to (directly or
// through its report; nil for a report not yet triaged).
func (s *Service) attachmentCase(ctx context.Context, att *Attachment) (*Case, error) {
	caseID := att.CaseID
	if caseID == "" {
		r, err := s.cfg.Store.GetReport(ctx, att.ReportID)
		if err != nil {
			return nil, err
		}
		caseID = r.CaseID
	}
	if caseID == "" {
		return nil, nil
	}
	return s.cfg.Store.GetCase(ctx, caseID)
}

// ListCaseAttachments lists the evidence of a case and of its reports.
// Errors: ENotFound, EForbidden, EObjectForbidden.
func (s *Service) ListCaseAttachments(ctx context.Context, a Actor, caseID string) ([]*Attachment, error) {
	c, err := s.caseFor(ctx, a, ActAttachmentRead, caseID)
	if err != nil {
		return nil, err
	}
	return s.listAttachments(ctx, c.ReportIDs, c.ID)
}

// ListReportAttachments lists the evidence the reporter of a report sent.
// Errors: ENotFound, EForbidden, EObjectForbidden (the report's case is
// someone else's).
func (s *Service) ListReportAttachments(ctx context.Context, a Actor, reportID string) ([]*Attachment, error) {
	if err := Authorize(a, ActAttachmentRead); err != nil {
		return nil, err
	}
	r, err := s.cfg.Store.GetReport(ctx, reportID)
	if err != nil {
		return nil, err
	}
	if r.CaseID != "" {
		if _, err := s.caseFor(ctx, a, ActAttachmentRead, r.CaseID); err != nil {
			return nil, err
		}
	}
	return s.listAttachments(ctx, []string{r.ID}, "")
}

// OpenAttachment authorizes a download, writes its audit record (on the
// chain of the report or case, with the SHA-256) and returns the
// attachment with a reader of its plaintext, which checks every chunk's
// authenticity and, at the end, the SHA-256. Errors: ENotFound, EForbidden,
// EObjectForbidden.
func (s *Service) OpenAttachment(ctx context.Context, a Actor, id string) (*Attachment, io.Reader, error) {
	if err := Authorize(a, ActAttachmentRead); err != nil {
		return nil, nil, err
	}
	att, err := s.cfg.Store.GetAttachment(ctx, id)
	if err != nil {
		return nil, nil, err
	}
	if _, err := s.openNames([]*Attachment{att}); err != nil {
		return nil, nil, err
	}
	c, err := s.attachmentCase(ctx, att)
	if err != nil {
		return nil, nil, err
	}
	if c != nil {
		if err := s.cfg.Lifecycle.CheckCaseAction(a, ActAttachmentRead, c.Number, c.Assignee); err != nil {
			return nil, nil, err
		}
	}
	key, err := s.cfg.Keyring.OpenContentKey("attachment:"+att.ID, att.WrappedKey)
	if err != nil {
		return nil, nil, Internal(err)
	}
	entityType, entityID := "report", att.ReportID
	if c != nil {
		entityType, entityID = "case", c.ID
	}
	err = s.cfg.Store.InTx(ctx, func(tx Tx) error {
		return s.record(ctx, tx, a, s.now(), change{action: entityType + ".attachment_downloaded", entityType: entityType, entityID: entityID,
			data: map[string]any{"attachment_id": att.ID, "sha256": fmt.Sprintf("%x", att.SHA256)}})
	})
	if err != nil {
		return nil, nil, err
	}
	return att, &chunkReader{ctx: ctx, s: s, att: att, key: key, sum: sha256.New()}, nil
}

// chunkReader streams an attachment's plaintext one chunk at a time.
type chunkReader struct {
	ctx   context.Context
	s     *Service
	att   *Attachment
	key   *ContentKey
	seq   int
	buf   []byte // the unread rest of the current chunk
	plain []byte // storage of the current chunk's plaintext
	sum   hash.Hash
	done  bool
}

func (r *chunkReader) Read(p []byte) (int, error) {
	for len(r.buf) == 0 {
		if r.seq == r.att.Chunks {
			if !r.done {
				r.done = true
				if got := r.sum.Sum(nil); string(got) != string(r.att.SHA256) {
					return 0, fmt.Errorf("attachment %s: content does not match its SHA-256", r.att.ID)
				}
			}
			return 0, io.EOF
		}
		sealed, err := r.s.blobs().Get(r.ctx, r.att, r.seq)
		if err != nil {
			return 0, err
		}
		if r.plain == nil {
			r.plain = make([]byte, 0, ChunkSize)
		}
		if r.buf, err = r.key.OpenTo(r.plain, sealed, chunkAD(r.att.ID, r.seq)); err != nil {
			return 0, fmt.Errorf("attachment %s chunk %d: %w", r.att.ID, r.seq, err)
		}
		r.sum.Write(r.buf)
		r.seq++
	}
	n := copy(p, r.buf)
	r.buf = r.buf[n:]
	return n, nil
}
