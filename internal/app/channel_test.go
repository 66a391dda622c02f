package app_test

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"image"
	"image/color"
	"image/png"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/regcase/regcase/internal/regcase"
)

// pngPhoto is a small real PNG image (a "photo" of evidence).
func pngPhoto(tb testing.TB) []byte {
	tb.Helper()
	img := image.NewRGBA(image.Rect(0, 0, 32, 24))
	for x := range 32 {
		img.Set(x, x%24, color.RGBA{R: 200, A: 255})
	}
	var b bytes.Buffer
	if err := png.Encode(&b, img); err != nil {
		tb.Fatal(err)
	}
	return b.Bytes()
}

type threadJSON struct {
	TrackingCode string `json:"tracking_code"`
	Unread       int    `json:"unread"`
	Messages     []struct {
		ID       string `json:"id"`
		ReportID string `json:"report_id"`
		From     string `json:"from"`
		Author   string `json:"author"`
		Body     string `json:"body"`
		Unread   bool   `json:"unread"`
	} `json:"messages"`
	Attachments []attachmentJSON `json:"attachments"`
}

type attachmentJSON struct {
	ID          string `json:"id"`
	Filename    string `json:"filename"`
	ContentType string `json:"content_type"`
	Size        int64  `json:"size"`
	SHA256      string `json:"sha256"`
	URL         string `json:"url"`
}

// triagedReport submits an anonymous report and triages it into a new case
// assigned to the run's investigator.
func triagedReport(tb testing.TB, ts *testServer, description string) (submitted, caseJSON) {
	tb.Helper()
	rep := ts.submitReport(tb, regcase.RoleAnonymous, description)
	var tri struct {
		Case caseJSON `json:"case"`
	}
	ts.must(tb, http.StatusOK, http.MethodPost, "/v1/reports/"+rep.ID+"/triage", regcase.RoleIntake,
		map[string]any{"new_case": map[string]any{"priority": "normal"}}).JSON(tb, &tri)
	var c caseJSON
	ts.must(tb, http.StatusOK, http.MethodPost, "/v1/cases/"+tri.Case.ID+"/assignment", regcase.RoleSupervisor,
		map[string]any{"assignee": ts.Names[regcase.RoleInvestigator]}, "If-Match", tri.Case.ETag).JSON(tb, &c)
	return rep, c
}

func publicPath(rep submitted, rest string) string {
	return "/v1/public/reports/" + rep.TrackingCode + rest
}

func (ts *testServer) upload(tb testing.TB, path string, role regcase.Role, name string, content []byte, headers ...string) *apiResponse {
	tb.Helper()
	req := ts.request(tb, http.MethodPost, path+"?filename="+url.QueryEscape(name), role, content, headers...)
	req.Header.Set("Content-Type", "application/octet-stream")
	return ts.send(tb, req)
}

// caseAuditRecord returns the data of the record with action about the
// attachment on the case's audit timeline.
func caseAuditRecord(tb testing.TB, ts *testServer, caseID, action, attachmentID string) map[string]any {
	tb.Helper()
	var recs struct {
		Items []struct {
			Action string          `json:"action"`
			Data   json.RawMessage `json:"data"`
		} `json:"items"`
	}
	ts.must(tb, http.StatusOK, http.MethodGet, "/v1/cases/"+caseID+"/audit", regcase.RoleSupervisor, nil).JSON(tb, &recs)
	for _, r := range recs.Items {
		if r.Action == action {
			var d map[string]any
			if err := json.Unmarshal(r.Data, &d); err != nil {
				tb.Fatal(err)
			}
			if d["attachment_id"] == attachmentID {
				return d
			}
		}
	}
	tb.Fatalf("case %s has no audit record %s of attachment %s", caseID, action, attachmentID)
	return nil
}

// TestReporterChannel: the anonymous two-way channel on both engines.
func TestReporterChannel(t *testing.T) {
	forEachEngine(t, func(t *testing.T, engine string) {
		ts := startServer(t, engine)
		rep, c := triagedReport(t, ts, "Fish kept without ice at the market.")
		secret := []string{"X-Status-Secret", rep.StatusSecret}

		t.Run("WrongSecret/NotFoundLikeStatus", func(t *testing.T) {
			status := ts.do(t, http.MethodGet, publicPath(rep, ""), regcase.RoleAnonymous, nil, "X-Status-Secret", "wrong")
			for _, r := range []*apiResponse{
				ts.do(t, http.MethodGet, publicPath(rep, "/messages"), regcase.RoleAnonymous, nil, "X-Status-Secret", "wrong"),
				ts.do(t, http.MethodPost, publicPath(rep, "/messages"), regcase.RoleAnonymous, map[string]any{"body": "hello"}, "X-Status-Secret", "wrong"),
				ts.upload(t, publicPath(rep, "/attachments"), regcase.RoleAnonymous, "a.png", pngPhoto(t), "X-Status-Secret", "wrong"),
			} {
				if r.Status != http.StatusNotFound || status.Status != http.StatusNotFound {
					t.Fatalf("wrong secret: got %s (status page %s), want 404 like the status page", r, status)
				}
				if p := checkProblem(t, "wrong secret", r); p.Detail != "no report with this tracking code and secret" {
					t.Errorf("wrong secret detail %q differs from the status page's", p.Detail)
				}
			}
		})

		ts.must(t, http.StatusCreated, http.MethodPost, publicPath(rep, "/messages"), regcase.RoleAnonymous,
			map[string]any{"body": "I saw it again on Tuesday."}, secret...)

		t.Run("OfficerSeesUnreadOnce", func(t *testing.T) {
			var th threadJSON
			r := ts.must(t, http.StatusOK, http.MethodGet, "/v1/cases/"+c.ID+"/messages", regcase.RoleInvestigator, nil)
			r.JSON(t, &th)
			if th.Unread != 1 || len(th.Messages) != 1 || !th.Messages[0].Unread || th.Messages[0].Body != "I saw it again on Tuesday." {
				t.Fatalf("first read: %s, want one unread reporter message", r)
			}
			if r.Header.Get("Cache-Control") != "no-store" {
				t.Errorf("Cache-Control = %q", r.Header.Get("Cache-Control"))
			}
			th = threadJSON{}
			ts.must(t, http.StatusOK, http.MethodGet, "/v1/cases/"+c.ID+"/messages", regcase.RoleInvestigator, nil).JSON(t, &th)
			if th.Unread != 0 || th.Messages[0].Unread {
				t.Errorf("second read: unread %d, want 0", th.Unread)
			}
			// The marker is per officer: the supervisor has not read it.
			th = threadJSON{}
			ts.must(t, http.StatusOK, http.MethodGet, "/v1/cases/"+c.ID+"/messages", regcase.RoleSupervisor, nil).JSON(t, &th)
			if th.Unread != 1 {
				t.Errorf("supervisor: unread %d, want 1 (markers are per officer)", th.Unread)
			}
		})

		t.Run("OfficerAsksReporterReads", func(t *testing.T) {
			ts.must(t, http.StatusCreated, http.MethodPost, "/v1/cases/"+c.ID+"/messages", regcase.RoleInvestigator,
				map[string]any{"report_id": rep.ID, "body": "Which stall was it?"})
			var th threadJSON
			r := ts.must(t, http.StatusOK, http.MethodGet, publicPath(rep, "/messages"), regcase.RoleAnonymous, nil, secret...)
			r.JSON(t, &th)
			if len(th.Messages) != 2 || th.Messages[1].From != "officer" || th.Messages[1].Body != "Which stall was it?" {
				t.Fatalf("reporter thread: %s", r)
			}
			if th.Messages[1].Author != "" || strings.Contains(string(r.Body), ts.IDs[regcase.RoleInvestigator]) {
				t.Errorf("the reporter's thread names the officer: %s", r)
			}
		})

		t.Run("WrongReport/Invalid", func(t *testing.T) {
			other := ts.submitReport(t, regcase.RoleAnonymous, "Another report, not on this case.")
			r := ts.do(t, http.MethodPost, "/v1/cases/"+c.ID+"/messages", regcase.RoleSupervisor, map[string]any{"report_id": other.ID, "body": "x"})
			if r.Status != http.StatusUnprocessableEntity {
				t.Errorf("message to a report of another case: got %s, want 422", r)
			}
		})

		t.Run("OtherInvestigatorsCase/ObjectForbidden", func(t *testing.T) {
			_, c2 := triagedReport(t, ts, "A case of the run's investigator.")
			ts.must(t, http.StatusOK, http.MethodPost, "/v1/cases/"+c2.ID+"/assignment", regcase.RoleSupervisor,
				map[string]any{"assignee": ts.Names[regcase.RoleSupervisor]}, "If-Match", c2.ETag)
			for _, m := range []string{http.MethodGet, http.MethodPost} {
				r := ts.do(t, m, "/v1/cases/"+c2.ID+"/messages", regcase.RoleInvestigator, map[string]any{"body": "hi"})
				if p := checkProblem(t, "someone else's case", r); r.Status != http.StatusForbidden || p.Type != problemPrefix+"object_forbidden" {
					t.Errorf("%s messages of someone else's case as investigator: got %s, want 403 object_forbidden", m, r)
				}
			}
		})

		t.Run("EventAndAuditWithoutPlaintext", func(t *testing.T) {
			var recs struct {
				Items []struct {
					Action string          `json:"action"`
					Data   json.RawMessage `json:"data"`
				} `json:"items"`
			}
			ts.must(t, http.StatusOK, http.MethodGet, "/v1/audit?chain=report:"+rep.ID, regcase.RoleAuditor, nil).JSON(t, &recs)
			n := 0
			for _, r := range recs.Items {
				if strings.HasPrefix(r.Action, "report.message_") {
					n++
					if strings.Contains(string(r.Data), "Tuesday") || strings.Contains(string(r.Data), "stall") || !strings.Contains(string(r.Data), "body_hmac") {
						t.Errorf("audit data %s: want a body_hmac and no plaintext", r.Data)
					}
				}
			}
			if n != 2 {
				t.Errorf("report chain has %d message records, want 2", n)
			}
		})
	})
}

// TestAttachments: limits, sniffing, safe names, downloads, custody, on
// both engines.
func TestAttachments(t *testing.T) {
	forEachEngine(t, func(t *testing.T, engine string) {
		ts := startServer(t, engine, "REGCASE_ATTACHMENT_MAX_BYTES=1048576")
		rep, c := triagedReport(t, ts, "Rats in the storeroom of the bakery.")
		secret := []string{"X-Status-Secret", rep.StatusSecret}
		list := func(t *testing.T) []attachmentJSON {
			var out struct {
				Items []attachmentJSON `json:"items"`
			}
			ts.must(t, http.StatusOK, http.MethodGet, "/v1/cases/"+c.ID+"/attachments", regcase.RoleSupervisor, nil).JSON(t, &out)
			return out.Items
		}

		t.Run("Oversize/413NothingStored", func(t *testing.T) {
			big := append([]byte("%PDF-1.4\n"), bytes.Repeat([]byte("x"), 1<<20)...)
			for _, path := range []string{publicPath(rep, "/attachments"), "/v1/cases/" + c.ID + "/attachments"} {
				r := ts.upload(t, path, regcase.RoleSupervisor, "big.pdf", big, secret...)
				if r.Status != http.StatusRequestEntityTooLarge {
					t.Errorf("%s: got %s, want 413", path, r)
				}
				checkProblem(t, "oversize", r)
			}
			if got := list(t); len(got) != 0 {
				t.Errorf("after refused uploads the case lists %d attachments", len(got))
			}
		})

		t.Run("Executable/415", func(t *testing.T) {
			exe := append([]byte("MZ\x90\x00\x03\x00\x00\x00\x04\x00"), bytes.Repeat([]byte{0, 0xff}, 100)...)
			r := ts.upload(t, publicPath(rep, "/attachments"), regcase.RoleAnonymous, "photo.jpg", exe, secret...)
			if r.Status != http.StatusUnsupportedMediaType {
				t.Errorf("executable named photo.jpg: got %s, want 415", r)
			}
			checkProblem(t, "executable", r)
			if got := list(t); len(got) != 0 {
				t.Errorf("after a refused upload the case lists %d attachments", len(got))
			}
		})

		t.Run("TraversalName/StoredSafely", func(t *testing.T) {
			r := ts.upload(t, publicPath(rep, "/attachments"), regcase.RoleAnonymous, "../../etc/\u202epasswd\r\n.txt", []byte("plain evidence\n"), secret...)
			var a attachmentJSON
			r.JSON(t, &a)
			if r.Status != http.StatusCreated || a.Filename != "passwd.txt" {
				t.Fatalf("got %s, want 201 with filename passwd.txt", r)
			}
			d := ts.must(t, http.StatusOK, http.MethodGet, "/v1/attachments/"+a.ID, regcase.RoleSupervisor, nil)
			if cd := d.Header.Get("Content-Disposition"); strings.ContainsAny(cd, "/\\\r\n") || !strings.HasPrefix(cd, "attachment;") {
				t.Errorf("Content-Disposition %q", cd)
			}
		})

		t.Run("HTML/ServedAsAttachmentNeverInline", func(t *testing.T) {
			page := []byte("<!DOCTYPE html><html><body><script>alert(document.cookie)</script></body></html>")
			r := ts.upload(t, "/v1/cases/"+c.ID+"/attachments", regcase.RoleInvestigator, "page.html", page)
			var a attachmentJSON
			r.JSON(t, &a)
			if r.Status != http.StatusCreated {
				t.Fatalf("upload: %s", r)
			}
			d := ts.must(t, http.StatusOK, http.MethodGet, a.URL, regcase.RoleInvestigator, nil)
			h := d.Header
			if h.Get("Content-Type") != "application/octet-stream" || !strings.HasPrefix(h.Get("Content-Disposition"), "attachment;") ||
				h.Get("X-Content-Type-Options") != "nosniff" || !bytes.Equal(d.Body, page) {
				t.Errorf("HTML download: Content-Type %q, Content-Disposition %q, nosniff %q, body %q",
					h.Get("Content-Type"), h.Get("Content-Disposition"), h.Get("X-Content-Type-Options"), d.Body)
			}
		})

		t.Run("Photo/SHA256MatchesAudit", func(t *testing.T) {
			big := append(pngPhoto(t), bytes.Repeat([]byte{7}, 600<<10)...) // several chunks
			r := ts.upload(t, publicPath(rep, "/attachments"), regcase.RoleAnonymous, "stall 4.png", big, secret...)
			var a attachmentJSON
			r.JSON(t, &a)
			sum := sha256.Sum256(big)
			if r.Status != http.StatusCreated || a.ContentType != "image/png" || a.SHA256 != hex.EncodeToString(sum[:]) {
				t.Fatalf("upload: %s", r)
			}
			d := ts.must(t, http.StatusOK, http.MethodGet, "/v1/attachments/"+a.ID, regcase.RoleInvestigator, nil)
			got := sha256.Sum256(d.Body)
			rec := caseAuditRecord(t, ts, c.ID, "case.attachment_added", a.ID)
			if hex.EncodeToString(got[:]) != rec["sha256"] || d.Header.Get("Content-Type") != "image/png" {
				t.Errorf("download sha256 %x, audit %v, type %q", got, rec["sha256"], d.Header.Get("Content-Type"))
			}
			if dl := caseAuditRecord(t, ts, c.ID, "case.attachment_downloaded", a.ID); dl["sha256"] != a.SHA256 {
				t.Errorf("download not audited: %v", dl)
			}
			if !strings.Contains(d.Header.Get("Content-Disposition"), "filename*=UTF-8''stall%204.png") {
				t.Errorf("Content-Disposition %q", d.Header.Get("Content-Disposition"))
			}
		})

		t.Run("Multipart/OK", func(t *testing.T) {
			var b bytes.Buffer
			b.WriteString("--XYZ\r\nContent-Disposition: form-data; name=\"file\"; filename=\"note.txt\"\r\nContent-Type: image/png\r\n\r\nwritten statement\r\n--XYZ--\r\n")
			req := ts.request(t, http.MethodPost, "/v1/cases/"+c.ID+"/attachments", regcase.RoleSupervisor, b.Bytes())
			req.Header.Set("Content-Type", "multipart/form-data; boundary=XYZ")
			r := ts.send(t, req)
			var a attachmentJSON
			r.JSON(t, &a)
			if r.Status != http.StatusCreated || a.Filename != "note.txt" || !strings.HasPrefix(a.ContentType, "text/plain") {
				t.Errorf("multipart upload: %s (the claimed image/png must not be believed)", r)
			}
		})
	})
}

// TestChannelErasure: erasing the reporter removes the messages and the
// evidence they sent; the audit keeps the hashes and the chain verifies.
func TestChannelErasure(t *testing.T) {
	forEachEngine(t, func(t *testing.T, engine string) {
		ts := startServer(t, engine)
		rep, c := triagedReport(t, ts, "Workers without helmets on the scaffold.")
		secret := []string{"X-Status-Secret", rep.StatusSecret}
		ts.must(t, http.StatusCreated, http.MethodPost, publicPath(rep, "/messages"), regcase.RoleAnonymous,
			map[string]any{"body": "My name is on the rota, please keep it quiet."}, secret...)
		var a attachmentJSON
		ts.upload(t, publicPath(rep, "/attachments"), regcase.RoleAnonymous, "rota.png", pngPhoto(t), secret...).JSON(t, &a)
		officerFile := ts.upload(t, "/v1/cases/"+c.ID+"/attachments", regcase.RoleSupervisor, "inspection.txt", []byte("inspection notes\n"))
		if officerFile.Status != http.StatusCreated {
			t.Fatalf("officer upload: %s", officerFile)
		}

		ts.must(t, http.StatusOK, http.MethodPost, "/v1/reports/"+rep.ID+"/erasure", regcase.RoleSupervisor,
			map[string]any{"reason": "data protection request"})

		var th threadJSON
		ts.must(t, http.StatusOK, http.MethodGet, "/v1/cases/"+c.ID+"/messages", regcase.RoleSupervisor, nil).JSON(t, &th)
		if len(th.Messages) != 0 {
			t.Errorf("after erasure the case shows %d messages", len(th.Messages))
		}
		var items struct {
			Items []attachmentJSON `json:"items"`
		}
		ts.must(t, http.StatusOK, http.MethodGet, "/v1/cases/"+c.ID+"/attachments", regcase.RoleSupervisor, nil).JSON(t, &items)
		if len(items.Items) != 1 || items.Items[0].Filename != "inspection.txt" {
			t.Errorf("after erasure: %+v, want only the officer's file", items.Items)
		}
		if r := ts.do(t, http.MethodGet, "/v1/attachments/"+a.ID, regcase.RoleSupervisor, nil); r.Status != http.StatusNotFound {
			t.Errorf("erased attachment download: got %s, want 404", r)
		}
		var v struct {
			OK bool `json:"ok"`
		}
		r := ts.must(t, http.StatusOK, http.MethodGet, "/v1/audit/verify", regcase.RoleAuditor, nil)
		r.JSON(t, &v)
		if !v.OK {
			t.Errorf("audit verify after erasure: %s", r)
		}
		rec := caseAuditRecord(t, ts, c.ID, "case.attachment_added", a.ID)
		if rec["sha256"] != a.SHA256 {
			t.Errorf("the custody record lost the hash: %v", rec)
		}
	})
}
