package web_test

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"image"
	"image/color"
	"image/png"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/browser"
	"github.com/chromedp/chromedp"

	"github.com/regcase/regcase/internal/regcase"
)

// TestBrowserChannelEvidence: in headless Chromium with JavaScript off, an
// anonymous reporter sends a report with a photo, the investigator asks a
// question, the reporter answers with the tracking code and status secret
// and adds a document, and the investigator downloads it: its SHA-256 is
// the one in the audit record. Screenshots go with the other e2e ones.
func TestBrowserChannelEvidence(t *testing.T) {
	exe := chromium(t)
	dir := screenshotDir(t)
	files, downloads := t.TempDir(), t.TempDir()

	var photo bytes.Buffer
	img := image.NewRGBA(image.Rect(0, 0, 64, 48))
	for x := range 64 {
		img.Set(x, x*3/4, color.RGBA{G: 160, A: 255})
	}
	if err := png.Encode(&photo, img); err != nil {
		t.Fatal(err)
	}
	photoPath := filepath.Join(files, "counter.png")
	doc := []byte("%PDF-1.4\n% delivery note of 3 March: 40 kg of fish, no cold chain\n%%EOF\n")
	docPath := filepath.Join(files, "delivery note.pdf")
	for p, b := range map[string][]byte{photoPath: photo.Bytes(), docPath: doc} {
		if err := os.WriteFile(p, b, 0o600); err != nil {
			t.Fatal(err)
		}
	}

	e := newEnv(t, envOpts{secure: true})
	b := startBrowser(t, e, exe, dir)
	b.n = 50 // numbered after TestBrowserEndToEnd's shots
	ctx := b.ctx
	if _, err := chromedp.Call(ctx, browser.SetDownloadBehavior, browser.SetDownloadBehaviorParams{
		Behavior: browser.SetDownloadBehaviorBehaviorAllow, DownloadPath: downloads}); err != nil {
		t.Fatalf("allow downloads: %v", err)
	}

	// The reporter, anonymous, sends the report with a photo.
	b.open("/report")
	b.do("fill the report",
		chromedp.SetValue(chromedp.ID("category"), "food_safety"),
		chromedp.SendKeys(chromedp.ID("subject-name"), "Harbour Fish Market"),
		chromedp.SendKeys(chromedp.ID("description"), "Fish kept without ice on the counter all afternoon."),
		chromedp.SetUploadFiles(chromedp.ID("report-file"), []string{photoPath}))
	b.shot("channel-report-with-photo")
	b.submit(`form[action="/report"]`, http.StatusOK)
	b.shot("channel-report-received")
	if got := b.text("file-received"); !strings.Contains(got, "counter.png") {
		t.Fatalf("the confirmation does not name the photo: %q", got)
	}
	code, secret := b.text("tracking-code"), b.text("status-secret")

	// Intake opens a case; a supervisor assigns the investigator.
	rep, err := e.store.GetReportByTracking(ctx, code)
	if err != nil {
		t.Fatal(err)
	}
	_, cs, err := e.svc.Triage(ctx, e.actor(regcase.RoleIntake), rep.ID, regcase.TriageInput{NewCase: &regcase.NewCase{Priority: regcase.PriorityHigh}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.svc.Assign(ctx, e.actor(regcase.RoleSupervisor), cs.ID, 0, e.names[regcase.RoleInvestigator]); err != nil {
		t.Fatal(err)
	}
	casePath := "/console/cases/" + cs.ID

	// The investigator sees the photo and asks a question.
	b.signIn(e.tokens[regcase.RoleInvestigator])
	b.open(casePath)
	if got := b.text("attachments"); !strings.Contains(got, "counter.png") || !strings.Contains(got, "image/png") {
		t.Errorf("evidence table: %q", got)
	}
	b.do("ask", chromedp.SendKeys(chromedp.ID("message-body"), "Which stall was it, and at what time?"))
	b.submit("#f-message", http.StatusOK)
	b.shot("channel-investigator-asked")
	b.signOut()

	// The reporter answers with the tracking code and secret, and adds a document.
	b.open("/status?code=" + code)
	b.do("status secret", chromedp.SendKeys(chromedp.ID("secret"), secret))
	b.submit(`form[action="/status"]`, http.StatusOK)
	if got := b.text("messages"); !strings.Contains(got, "Which stall was it") || strings.Contains(got, e.names[regcase.RoleInvestigator]) {
		t.Errorf("the reporter's thread: %q (must show the question, not the officer)", got)
	}
	b.shot("channel-reporter-question")
	b.do("answer", chromedp.SendKeys(chromedp.ID("reply-body"), "Stall 4, around 3 pm. I have the delivery note."))
	b.submit("#f-reply", http.StatusOK)
	b.do("document", chromedp.SetUploadFiles(chromedp.ID("upload-file"), []string{docPath}))
	b.submit("#f-upload", http.StatusOK)
	b.shot("channel-reporter-answered")
	if got := b.text("channel-notice"); !strings.Contains(got, "delivery note.pdf") {
		t.Errorf("upload notice: %q", got)
	}

	// The investigator sees one new message and downloads the document.
	b.signIn(e.tokens[regcase.RoleInvestigator])
	b.open(casePath)
	b.shot("channel-investigator-unread")
	if got := b.text("unread-count"); got != "1 new" {
		t.Errorf("unread count %q, want 1 new", got)
	}
	atts, err := e.svc.ListCaseAttachments(ctx, e.actor(regcase.RoleSupervisor), cs.ID)
	if err != nil || len(atts) != 2 {
		t.Fatalf("attachments: %v %v", atts, err)
	}
	var docAtt *regcase.Attachment
	for _, a := range atts {
		if a.Filename == "delivery note.pdf" {
			docAtt = a
		}
	}
	if docAtt == nil {
		t.Fatalf("no delivery note among %v", atts)
	}
	b.do("download the document", chromedp.Click(chromedp.CSS(`a[href="/console/attachments/`+docAtt.ID+`"]`)))
	got := waitDownload(t, filepath.Join(downloads, "delivery note.pdf"))
	sum := sha256.Sum256(got)
	var recorded string
	recs, err := e.svc.CaseAudit(ctx, e.actor(regcase.RoleSupervisor), cs.ID, 0, regcase.MaxLimit)
	if err != nil {
		t.Fatal(err)
	}
	downloaded := false
	for _, r := range recs {
		var d struct {
			AttachmentID string `json:"attachment_id"`
			SHA256       string `json:"sha256"`
		}
		_ = json.Unmarshal(r.Data, &d)
		if d.AttachmentID == docAtt.ID && r.Action == "case.attachment_added" {
			recorded = d.SHA256
		}
		if d.AttachmentID == docAtt.ID && r.Action == "case.attachment_downloaded" && r.ActorID == e.ids[regcase.RoleInvestigator] {
			downloaded = true
		}
	}
	if hex.EncodeToString(sum[:]) != recorded || !bytes.Equal(got, doc) {
		t.Errorf("downloaded SHA-256 %x, audit record %q", sum, recorded)
	}
	if !downloaded {
		t.Error("the investigator's download is not in the case's audit timeline")
	}
	if strings.Contains(e.logs.String(), "level=ERROR") {
		t.Errorf("the server logged errors:\n%s", e.logs.String())
	}
}

// waitDownload waits for Chromium to finish writing a downloaded file.
func waitDownload(t *testing.T, path string) []byte {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		if b, err := os.ReadFile(path); err == nil {
			if _, err := os.Stat(path + ".crdownload"); os.IsNotExist(err) {
				return b
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	entries, _ := os.ReadDir(filepath.Dir(path))
	t.Fatalf("no download at %s (directory holds %v)", path, entries)
	return nil
}
