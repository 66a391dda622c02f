package storetest

import (
	"bytes"
	"io"
	"testing"

	"github.com/regcase/regcase/internal/regcase"
)

// testChannel covers the reporter channel's store methods through the
// service: messages by report in ID order, per-reader markers that only
// move forward, attachments with their chunks, and the erasure of both.
func testChannel(t *testing.T, open opener) {
	h := open(t)
	ctx := t.Context()
	svc := newService(t, regcase.Deps{Store: h.Store})
	pub := regcase.Actor{ID: "public", Role: regcase.RoleAnonymous}
	sup := regcase.Actor{ID: "token:sup", Role: regcase.RoleSupervisor}
	in := regcase.SubmitReport{Channel: regcase.ChannelWeb, Category: "food_safety",
		Subject: regcase.Subject{Name: "Harbour Fish"}, Description: "Fish kept without ice"}
	sub, err := svc.Submit(ctx, pub, in, "")
	if err != nil {
		t.Fatal(err)
	}
	other, err := svc.Submit(ctx, pub, in, "")
	if err != nil {
		t.Fatal(err)
	}
	_, c, err := svc.Triage(ctx, sup, sub.Report.ID, regcase.TriageInput{NewCase: &regcase.NewCase{}})
	if err != nil {
		t.Fatal(err)
	}
	const secretText = "my neighbour Ilse Vantongeren works there"
	for _, body := range []string{secretText, "second"} {
		if _, err := svc.PostPublicMessage(ctx, pub, sub.Report.TrackingCode, sub.StatusSecret, body); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := svc.PostPublicMessage(ctx, pub, other.Report.TrackingCode, other.StatusSecret, "other report"); err != nil {
		t.Fatal(err)
	}
	if _, err := svc.PostCaseMessage(ctx, sup, c.ID, "", "third, from an officer"); err != nil {
		t.Fatal(err)
	}

	t.Run("MessagesInOrderPerReport", func(t *testing.T) {
		msgs, err := h.Store.ListMessages(ctx, []string{sub.Report.ID})
		if err != nil {
			t.Fatal(err)
		}
		if len(msgs) != 3 || !msgs[0].FromReporter || msgs[2].FromReporter || msgs[2].Author != sup.ID {
			t.Fatalf("got %d messages %+v", len(msgs), msgs)
		}
		for i := 1; i < len(msgs); i++ {
			if msgs[i-1].ID >= msgs[i].ID || !msgs[i].CreatedAt.Equal(regcase.AuditTime(msgs[i].CreatedAt)) {
				t.Errorf("messages out of order or times not at microseconds: %+v", msgs)
			}
		}
		if bytes.Contains(msgs[0].BodyCipher, []byte("Vantongeren")) {
			t.Error("a message body is stored in plain text")
		}
		none, err := h.Store.ListMessages(ctx, nil)
		if err != nil || len(none) != 0 {
			t.Errorf("no reports: %v %v", none, err)
		}
	})

	t.Run("ReadMarkerOnlyMovesForward", func(t *testing.T) {
		if m, err := h.Store.ReadMarker(ctx, sup.ID, c.ID); err != nil || m != "" {
			t.Fatalf("fresh marker %q %v", m, err)
		}
		th, err := svc.CaseMessages(ctx, sup, c.ID)
		if err != nil || th.Unread != 2 {
			t.Fatalf("first read: unread %v, %v", th, err)
		}
		last := th.Messages[len(th.Messages)-1].ID
		err = h.Store.InTx(ctx, func(tx regcase.Tx) error { return tx.MarkRead(ctx, sup.ID, c.ID, th.Messages[0].ID, t0) })
		if err != nil {
			t.Fatal(err)
		}
		if m, err := h.Store.ReadMarker(ctx, sup.ID, c.ID); err != nil || m != last {
			t.Errorf("marker moved back: %q, want %q (%v)", m, last, err)
		}
		if th, _ := svc.CaseMessages(ctx, sup, c.ID); th.Unread != 0 {
			t.Errorf("second read: unread %d", th.Unread)
		}
	})

	content := append([]byte("%PDF-1.4\n"), bytes.Repeat([]byte("evidence "), regcase.ChunkSize/4)...) // three chunks
	att, err := svc.AddPublicAttachment(ctx, pub, sub.Report.TrackingCode, sub.StatusSecret, "../statement.pdf", bytes.NewReader(content))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := svc.AddCaseAttachment(ctx, sup, c.ID, "notes.txt", bytes.NewReader([]byte("officer notes\n"))); err != nil {
		t.Fatal(err)
	}

	t.Run("Attachments", func(t *testing.T) {
		got, err := h.Store.GetAttachment(ctx, att.ID)
		if err != nil || bytes.Contains(got.FilenameCipher, []byte("statement")) || got.Size != int64(len(content)) || got.Chunks != 3 ||
			got.ContentType != "application/pdf" || !bytes.Equal(got.SHA256, att.SHA256) || got.ReportID != sub.Report.ID || got.CaseID != "" {
			t.Fatalf("stored %+v, %v", got, err)
		}
		if _, err := h.Store.GetAttachment(ctx, newID()); regcase.ErrorCodeOf(err) != regcase.ENotFound {
			t.Errorf("unknown attachment: %v, want ENotFound", err)
		}
		if _, err := h.Store.AttachmentChunk(ctx, att.ID, 3); regcase.ErrorCodeOf(err) != regcase.ENotFound {
			t.Errorf("chunk past the end: %v, want ENotFound", err)
		}
		list, err := h.Store.ListAttachments(ctx, []string{sub.Report.ID}, c.ID)
		if err != nil || len(list) != 2 {
			t.Errorf("case and report attachments: %d, %v", len(list), err)
		}
		_, r, err := svc.OpenAttachment(ctx, sup, att.ID)
		if err != nil {
			t.Fatal(err)
		}
		back, err := io.ReadAll(r)
		if err != nil || !bytes.Equal(back, content) {
			t.Errorf("round trip: %d bytes, %v", len(back), err)
		}
	})

	t.Run("EraseReporterContent", func(t *testing.T) {
		if _, err := svc.Erase(ctx, sup, sub.Report.ID, "data protection request"); err != nil {
			t.Fatal(err)
		}
		if msgs, _ := h.Store.ListMessages(ctx, []string{sub.Report.ID}); len(msgs) != 0 {
			t.Errorf("%d messages left", len(msgs))
		}
		if msgs, _ := h.Store.ListMessages(ctx, []string{other.Report.ID}); len(msgs) != 1 {
			t.Errorf("the other report lost its messages: %d", len(msgs))
		}
		if _, err := h.Store.AttachmentChunk(ctx, att.ID, 0); regcase.ErrorCodeOf(err) != regcase.ENotFound {
			t.Errorf("chunk of an erased attachment: %v", err)
		}
		list, _ := h.Store.ListAttachments(ctx, []string{sub.Report.ID}, c.ID)
		if len(list) != 1 || list[0].Size != int64(len("officer notes\n")) {
			t.Errorf("after erasure: %+v, want the officer's file only", list)
		}
		if h.Dump != nil {
			dump, err := h.Dump(ctx)
			if err != nil {
				t.Fatal(err)
			}
			for _, needle := range []string{"Vantongeren", "statement.pdf", "evidence evidence"} {
				if bytes.Contains(dump, []byte(needle)) {
					t.Errorf("after erasure the database still holds %q", needle)
				}
			}
		}
		if _, err := svc.Erase(ctx, sup, sub.Report.ID, "again"); regcase.ErrorCodeOf(err) != regcase.EConflict {
			t.Errorf("second erasure: %v, want EConflict", err)
		}
	})
}
