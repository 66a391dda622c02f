package app_test

import (
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"

	"github.com/regcase/regcase/internal/httpapi"
	"github.com/regcase/regcase/internal/regcase"
	"github.com/regcase/regcase/internal/sqlite"
)

// TestMerkleLog drives the Merkle audit log through the binary: the worker
// step signs checkpoints into the witness directory and to webhook
// subscribers, the API serves the checkpoint and proofs (checked here with
// tlog), the CLI proves and checks proofs offline, and `audit verify
// --witness` (directory or URL) names the checkpoint the database lost.
func TestMerkleLog(t *testing.T) {
	witness := filepath.Join(t.TempDir(), "witness")
	ts := startServer(t, "sqlite", append(pipelineEnv, "REGCASE_AUDIT_CHECKPOINT_INTERVAL=100ms",
		"REGCASE_AUDIT_WITNESS_DIR="+witness, "REGCASE_AUDIT_ORIGIN=cases.example.test/regcase/audit")...)
	rc := newReceiver(t)
	var hook struct{ Secret string }
	ts.must(t, http.StatusCreated, http.MethodPost, "/v1/webhooks", regcase.RoleAdmin, map[string]any{
		"url": rc.srv.URL + "/cp", "event_types": []string{regcase.CheckpointEventType}}).JSON(t, &hook)
	rc.setSecret(hook.Secret)

	code, keysOut, errOut := ts.CLI(t, "audit", "keys")
	if code != 0 || !strings.HasPrefix(keysOut, "cases.example.test/regcase/audit+") {
		t.Fatalf("audit keys: exit %d, %q %s", code, keysOut, errOut)
	}
	keysFile := filepath.Join(t.TempDir(), "keys")
	if err := os.WriteFile(keysFile, []byte(keysOut), 0o600); err != nil {
		t.Fatal(err)
	}
	v, err := note.NewVerifier(strings.TrimSpace(keysOut))
	if err != nil {
		t.Fatal(err)
	}
	open := func(what string, msg []byte) (int64, tlog.Hash) {
		t.Helper()
		n, err := note.Open(msg, note.VerifierList(v))
		if err != nil {
			t.Fatalf("%s: note.Open: %v\n%s", what, err, msg)
		}
		lines := strings.Split(n.Text, "\n")
		if len(lines) < 3 || lines[0] != "cases.example.test/regcase/audit" {
			t.Fatalf("%s: checkpoint text %q", what, n.Text)
		}
		var size int64
		fmt.Sscan(lines[1], &size)
		var root tlog.Hash
		b, _ := base64.StdEncoding.DecodeString(lines[2])
		copy(root[:], b)
		return size, root
	}

	// Three rounds of writes, each waited for in the witness directory (a
	// checkpoint bigger than the previous round's).
	var sizes []int64
	for i := range 3 {
		ts.submitReport(t, regcase.RoleAnonymous, fmt.Sprintf("Merkle round %d.", i))
		deadline := time.Now().Add(20 * time.Second)
		for {
			ents, _ := os.ReadDir(witness)
			if len(ents) > 0 {
				b, err := os.ReadFile(filepath.Join(witness, ents[len(ents)-1].Name()))
				if err != nil {
					t.Fatal(err)
				}
				if size, _ := open("witness file", b); len(sizes) == 0 || size > sizes[len(sizes)-1] {
					sizes = append(sizes, size)
					break
				}
			}
			if time.Now().After(deadline) {
				t.Fatalf("no checkpoint %d in the witness directory within 20s:\n%s", i+1, tail(ts.Stderr.String(), 20))
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	st, err := os.Stat(witness)
	if err != nil || st.Mode().Perm() != 0o700 {
		t.Errorf("witness directory mode %v (%v), want 0700", st.Mode().Perm(), err)
	}
	ents, _ := os.ReadDir(witness)
	for _, e := range ents {
		if info, _ := e.Info(); info.Mode().Perm() != 0o600 {
			t.Errorf("witness file %s mode %v, want 0600", e.Name(), info.Mode().Perm())
		}
	}

	// Every subscriber of gov.regcase.audit.checkpoint gets each checkpoint.
	subject := fmt.Sprintf("audit/checkpoints/%d", sizes[2])
	ev := rc.waitFor(t, regcase.CheckpointEventType, subject)
	data, _ := ev["data"].(map[string]any)
	if s, _ := data["checkpoint"].(string); s == "" {
		t.Errorf("checkpoint event without the signed note: %v", ev)
	} else if size, _ := open("webhook event", []byte(s)); size != sizes[2] {
		t.Errorf("webhook event is for size %d, want %d", size, sizes[2])
	}

	// API: the newest checkpoint as text, proofs checked with tlog.
	r := ts.must(t, http.StatusOK, http.MethodGet, "/v1/audit/checkpoint", regcase.RoleAuditor, nil)
	if ct := r.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/plain") {
		t.Errorf("GET /v1/audit/checkpoint Content-Type %q, want text/plain", ct)
	}
	latest, latestRoot := open("GET /v1/audit/checkpoint", r.Body)
	var recs struct {
		Items []struct {
			ID   int64  `json:"id"`
			Hash string `json:"hash"`
		} `json:"items"`
	}
	ts.must(t, http.StatusOK, http.MethodGet, "/v1/audit?limit=200", regcase.RoleAuditor, nil).JSON(t, &recs)
	first := recs.Items[0]
	var p httpapi.ProofBody
	ts.must(t, http.StatusOK, http.MethodGet, fmt.Sprintf("/v1/audit/proofs/inclusion?record=%d", first.ID), regcase.RoleAuditor, nil).JSON(t, &p)
	rh, _ := hex.DecodeString(first.Hash)
	hashes, err := p.ParseProofHashes()
	if err != nil || p.LeafIndex == nil || p.TreeSize < latest {
		t.Fatalf("inclusion proof %+v: %v", p, err)
	}
	_, pRoot := open("proof checkpoint", []byte(p.Checkpoint))
	if err := tlog.CheckRecord(hashes, p.TreeSize, pRoot, *p.LeafIndex, tlog.RecordHash(regcase.LeafData(first.ID, rh))); err != nil {
		t.Fatalf("tlog.CheckRecord of record %d: %v", first.ID, err)
	}
	ts.must(t, http.StatusOK, http.MethodGet, fmt.Sprintf("/v1/audit/proofs/consistency?from=%d&to=%d", sizes[0], latest), regcase.RoleAuditor, nil).JSON(t, &p)
	if hashes, err = p.ParseProofHashes(); err != nil {
		t.Fatal(err)
	}
	_, fromRoot := open("from checkpoint", []byte(p.FromCheckpoint))
	if err := tlog.CheckTree(hashes, latest, latestRoot, sizes[0], fromRoot); err != nil {
		t.Fatalf("tlog.CheckTree %d -> %d: %v", sizes[0], latest, err)
	}
	for _, bad := range []struct {
		path string
		want int
	}{
		{"/v1/audit/proofs/inclusion?record=abc", http.StatusUnprocessableEntity},
		{"/v1/audit/proofs/inclusion", http.StatusUnprocessableEntity},
		{"/v1/audit/proofs/inclusion?record=1&tree_size=999999", http.StatusUnprocessableEntity},
		{"/v1/audit/proofs/inclusion?record=999999", http.StatusNotFound},
		{fmt.Sprintf("/v1/audit/proofs/consistency?from=%d&to=%d", latest, sizes[0]), http.StatusUnprocessableEntity},
		{"/v1/audit/proofs/consistency?from=0", http.StatusUnprocessableEntity},
	} {
		r := ts.do(t, http.MethodGet, bad.path, regcase.RoleAuditor, nil)
		if r.Status != bad.want {
			t.Errorf("GET %s: %s, want %d", bad.path, r, bad.want)
		}
		checkProblem(t, bad.path, r)
	}
	if r := ts.do(t, http.MethodGet, "/v1/audit/checkpoint", regcase.RoleInvestigator, nil); r.Status != http.StatusForbidden {
		t.Errorf("investigator GET /v1/audit/checkpoint: %s, want 403", r)
	}

	// CLI: prove, then check the proof offline; a doctored proof fails.
	code, proof, errOut := ts.CLI(t, "audit", "prove", "--record", fmt.Sprint(first.ID))
	if code != 0 {
		t.Fatalf("audit prove: exit %d: %s", code, errOut)
	}
	proofFile := filepath.Join(t.TempDir(), "proof.json")
	_ = os.WriteFile(proofFile, []byte(proof), 0o600)
	if code, out, errOut := ts.CLI(t, "audit", "check-proof", "--proof", proofFile, "--keys", keysFile); code != 0 || !strings.Contains(out, "proof OK") {
		t.Fatalf("audit check-proof: exit %d: %s %s", code, out, errOut)
	}
	_ = os.WriteFile(proofFile, []byte(strings.Replace(proof, `"record_id": `+fmt.Sprint(first.ID), `"record_id": `+fmt.Sprint(first.ID+1), 1)), 0o600)
	if code, out, errOut := ts.CLI(t, "audit", "check-proof", "--proof", proofFile, "--keys", keysFile); code != 65 {
		t.Fatalf("check-proof of a doctored proof: exit %d, want 65: %s %s", code, out, errOut)
	}
	code, cproof, _ := ts.CLI(t, "audit", "prove", "--from", fmt.Sprint(sizes[0]))
	_ = os.WriteFile(proofFile, []byte(cproof), 0o600)
	if code2, out, errOut := ts.CLI(t, "audit", "check-proof", "--proof", proofFile, "--keys", keysFile); code != 0 || code2 != 0 || !strings.Contains(out, "is a prefix") {
		t.Fatalf("consistency proof: exit %d/%d: %s %s", code, code2, out, errOut)
	}

	// Untouched: verify against the witness passes.
	ents, _ = os.ReadDir(witness)
	if code, out, errOut := ts.CLI(t, "audit", "verify", "--witness", witness, "--keys", keysFile); code != 0 || !strings.Contains(out, fmt.Sprintf("witness checkpoints checked: %d", len(ents))) {
		t.Fatalf("verify --witness on an untouched log: exit %d\n%s%s", code, out, errOut)
	}

	// The database holder deletes the newest checkpoint: the database alone
	// cannot tell, the witness can (directory and URL).
	ts.Stop(t)
	db, err := sqlite.Open(t.Context(), strings.TrimPrefix(ts.env["DATABASE_URL"], "sqlite://"))
	if err != nil {
		t.Fatal(err)
	}
	ents, _ = os.ReadDir(witness)
	newest := ents[len(ents)-1].Name()
	var newestSize int64
	fmt.Sscanf(strings.TrimPrefix(newest, "checkpoint."), "%d", &newestSize)
	if err := db.ExecAsOwner(t.Context(), fmt.Sprintf(`DELETE FROM audit_tree_checkpoints WHERE tree_size = %d`, newestSize)); err != nil {
		t.Fatal(err)
	}
	db.Close()
	if code, out, errOut := ts.CLI(t, "audit", "verify", "--keys", keysFile); code != 0 {
		t.Fatalf("without a witness the deletion should go unnoticed (that is the point): exit %d\n%s%s", code, out, errOut)
	}
	code, out, errOut := ts.CLI(t, "audit", "verify", "--witness", witness, "--keys", keysFile)
	if code != 65 || !strings.Contains(errOut, newest) || !strings.Contains(errOut, "no longer has") {
		t.Fatalf("verify --witness after deleting checkpoint %d: exit %d, want 65 naming %s\n%s%s", newestSize, code, newest, out, errOut)
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.ServeFile(w, r, filepath.Join(witness, newest))
	}))
	defer srv.Close()
	code, out, errOut = ts.CLI(t, "audit", "verify", "--witness", srv.URL+"/checkpoint", "--json=true", "--keys", keysFile)
	var res regcase.VerifyResult
	_ = json.Unmarshal([]byte(out), &res)
	if code != 65 || res.FirstBad == nil || res.FirstBad.Witness != srv.URL+"/checkpoint" || res.FirstBad.TreeSize != newestSize {
		t.Fatalf("verify --witness URL: exit %d, first %+v\n%s", code, res.FirstBad, errOut)
	}
}
