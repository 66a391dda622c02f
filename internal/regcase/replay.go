package regcase

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"slices"
	"sort"
	"time"
)

// Live state against its history.
//
// Every audit record of a case or a report written by this version carries,
// besides what changed, a "state" snapshot: the entity's fields as the
// change left them (caseState, reportState). Folding a chain from its first
// record to its head therefore yields the state the history determines, and
// VerifyAudit compares it with the live row: a row edited in the database
// behind the application's back (UPDATE cases SET title = …) no longer
// matches the signed history, and the first divergent entity and field are
// named (AuditProblem.Entity, AuditProblem.Field).
//
// Replaying also checks each step: a snapshot may differ from the previous
// one only in the fields its action changes (stepFields: a paused clock
// does not retitle a case). So a row edited behind the application's back
// and then changed legitimately — whose next snapshot, taken from the
// edited row, would otherwise launder the edit — is named at the record
// whose snapshot first shows the unexplained change.
//
// Records written before snapshots existed carry no state; a chain is
// compared from its first record that carries one, and a chain without any
// is not compared (LiveStateResult.Unchecked counts them), so an untampered
// old database still verifies. A record without state after one with state
// (written by an older replica during a rolling upgrade) ends the comparison
// of that chain until the next record with state.
//
// Reporter contact details are never part of a snapshot (they are
// encrypted, and erasure is itself audited); free text a reporter wrote
// (description, location) is compared through its keyed digest.

// LiveStateResult summarises the comparison of live rows with their history.
type LiveStateResult struct {
	Checked   int64  `json:"checked"`   // cases and reports compared
	Unchecked int64  `json:"unchecked"` // history has no state snapshot (written before snapshots)
	Duration  string `json:"duration"`
}

// caseFields and reportFields are the snapshot fields, in the order in which
// a divergence is reported.
var (
	caseFields = []string{"title", "status", "priority", "assignee", "category", "subject", "number",
		"opened_at", "updated_at", "closed_at", "resolution", "details", "due_at", "paused_at",
		"pause_reason", "paused_total_us", "breached_at", "report_ids", "version"}
	reportFields = []string{"status", "case_id", "dismiss_reason", "tracking_code", "channel", "category",
		"subject", "description_hmac", "location_hmac", "occurred_at", "has_reporter", "erased_at",
		"received_at", "updated_at"}
)

// stepFields are the snapshot fields each action may change; an action not
// listed (a newer version's) is not step-checked.
var stepFields = map[string][]string{
	"case.report_linked":     {"report_ids"},
	"case.updated":           {"title", "category", "subject", "priority", "due_at", "breached_at", "updated_at", "version"},
	"case.transitioned":      {"status", "assignee", "details", "resolution", "closed_at", "paused_at", "pause_reason", "paused_total_us", "updated_at", "version"},
	"case.assigned":          {"assignee", "updated_at", "version"},
	"case.sla_paused":        {"paused_at", "pause_reason", "updated_at", "version"},
	"case.sla_resumed":       {"paused_at", "pause_reason", "paused_total_us", "due_at", "breached_at", "updated_at", "version"},
	"case.sla_breached":      {"breached_at", "priority", "updated_at", "version"},
	"case.note_added":        {},
	"report.triaged":         {"status", "case_id", "updated_at"},
	"report.dismissed":       {"status", "dismiss_reason", "updated_at"},
	"report.reporter_erased": {"erased_at", "updated_at"},
	"report.pii_viewed":      {},
	// Actions that never change the entity's row (messages and evidence live
	// in their own tables; their records carry no snapshot) and the
	// statutory-deadline marks (which do carry one).
	"report.message_received":      {},
	"report.message_sent":          {},
	"report.attachment_added":      {},
	"case.attachment_added":        {},
	"report.attachment_downloaded": {},
	"case.attachment_downloaded":   {},
	"case.deadline_approaching":    {"updated_at", "version"},
	"case.deadline_breached":       {"updated_at", "version"},
	ActionFeedbackGiven:            {"updated_at", "version"},
}

func stamp(t time.Time) string { return AuditTime(t).Format(time.RFC3339Nano) }

func stampPtr(t *time.Time) any {
	if t == nil {
		return nil
	}
	return stamp(*t)
}

// caseState is the snapshot of c that its audit records carry.
func caseState(c *Case) map[string]any {
	details := map[string]json.RawMessage{}
	for k, v := range c.Details {
		details[k] = v
	}
	ids := append([]string{}, c.ReportIDs...)
	sort.Strings(ids)
	return map[string]any{
		"title": c.Title, "status": c.Status, "priority": c.Priority, "assignee": c.Assignee,
		"category": c.Category, "subject": c.Subject, "number": c.Number,
		"opened_at": stamp(c.OpenedAt), "updated_at": stamp(c.UpdatedAt), "closed_at": stampPtr(c.ClosedAt),
		"resolution": c.Resolution, "details": details, "due_at": stamp(c.SLA.DueAt),
		"paused_at": stampPtr(c.SLA.PausedAt), "pause_reason": c.SLA.PauseReason,
		"paused_total_us": c.SLA.PausedTotal.Microseconds(), "breached_at": stampPtr(c.SLA.BreachedAt),
		"report_ids": ids, "version": c.Version,
	}
}

// reportState is the snapshot of r that its audit records carry: no
// reporter data, and the reporter's own text only as keyed digests (left out
// when the service has no keyring).
func (s *Service) reportState(r *Report) map[string]any {
	m := map[string]any{
		"status": r.Status, "case_id": r.CaseID, "dismiss_reason": r.DismissReason,
		"tracking_code": r.TrackingCode, "channel": r.Channel, "category": r.Category, "subject": r.Subject,
		"occurred_at": stampPtr(r.OccurredAt), "has_reporter": r.HasReporter, "erased_at": stampPtr(r.ErasedAt),
		"received_at": stamp(r.ReceivedAt), "updated_at": stamp(r.UpdatedAt),
	}
	if s.cfg.Keyring != nil {
		m["description_hmac"] = hex.EncodeToString(s.cfg.Keyring.Digest("report-description", []byte(r.Description)))
		m["location_hmac"] = hex.EncodeToString(s.cfg.Keyring.Digest("report-location", []byte(r.Location)))
	}
	return m
}

// withState returns the audit data of a change with its state snapshot added.
func withState(data, state any) any {
	if state == nil {
		return data
	}
	m := map[string]any{}
	if d, ok := data.(map[string]any); ok {
		for k, v := range d {
			m[k] = v
		}
	}
	m["state"] = state
	return m
}

// recordState extracts the state snapshot of an audit record (nil if none).
func recordState(r *AuditRecord) json.RawMessage {
	if !bytes.Contains(r.Data, []byte(`"state":`)) {
		return nil
	}
	var d struct {
		State json.RawMessage `json:"state"`
	}
	if json.Unmarshal(r.Data, &d) != nil || len(d.State) == 0 || d.State[0] != '{' {
		return nil
	}
	return d.State
}

// history is what the scan keeps of one entity's chain: enough to compare
// quickly (a digest); the snapshot itself is re-read on a mismatch.
type history struct {
	lastID  int64
	seen    bool // its live row was compared
	digest  [sha256.Size]byte
	stateAt int64 // id of the record whose state is current; 0: none
}

func (h *history) fold(r *AuditRecord) {
	h.lastID = r.ID
	if st := recordState(r); st != nil {
		h.digest, h.stateAt = sha256.Sum256(st), r.ID
	} else if h.stateAt != 0 && !rowNeutral(r.Action) {
		h.stateAt = -1 // a record without state after one with state
	}
}

// rowNeutral reports whether action never changes its entity's row, so a
// record of it without a snapshot leaves the previous snapshot current.
func rowNeutral(action string) bool {
	f, known := stepFields[action]
	return known && len(f) == 0
}

func (h *history) comparable() bool { return h.stateAt > 0 }

// liveCheck compares live rows with the state their chains determine.
type liveCheck struct {
	s       *Service
	res     *LiveStateResult
	problem func(AuditProblem)
	chains  map[string]*history
}

// verifyLiveState is VerifyAudit's hook: it replays every case and report
// chain and compares the result with the live rows, reporting divergences
// through problem.
func (s *Service) verifyLiveState(ctx context.Context, problem func(AuditProblem)) (*LiveStateResult, error) {
	start := time.Now()
	lc := &liveCheck{s: s, res: &LiveStateResult{}, problem: problem, chains: map[string]*history{}}
	var prev map[string]json.RawMessage // the scanned chain's last snapshot
	err := s.cfg.Store.ScanAudit(ctx, func(r *AuditRecord) error {
		if (r.EntityType != "case" && r.EntityType != "report") || r.Chain != ChainFor(r.EntityType, r.EntityID) {
			return nil
		}
		h := lc.chains[r.Chain]
		if h == nil {
			h, prev = &history{}, nil
			lc.chains[r.Chain] = h
		}
		h.fold(r)
		prev = lc.step(r, prev)
		return nil
	})
	if err != nil {
		return nil, err
	}
	if err := lc.cases(ctx); err != nil {
		return nil, err
	}
	if err := lc.reports(ctx); err != nil {
		return nil, err
	}
	lc.missingRows()
	lc.res.Duration = time.Since(start).Round(time.Millisecond).String()
	return lc.res, nil
}

// step checks that r's snapshot differs from prev (the chain's previous
// one; nil at its start or after a record without state) only in what r's
// action changes, and returns r's snapshot.
func (lc *liveCheck) step(r *AuditRecord, prev map[string]json.RawMessage) map[string]json.RawMessage {
	raw := recordState(r)
	var cur map[string]json.RawMessage
	if raw == nil && rowNeutral(r.Action) {
		return prev
	}
	if raw == nil || json.Unmarshal(raw, &cur) != nil {
		return nil
	}
	allowed, known := stepFields[r.Action]
	if prev == nil || !known {
		return cur
	}
	fields := caseFields
	if r.EntityType == "report" {
		fields = reportFields
	}
	for _, f := range append(slices.Clone(fields), sortedKeys(cur)...) {
		p, inP := prev[f]
		c, inC := cur[f]
		if inP && inC && !bytes.Equal(p, c) && !slices.Contains(allowed, f) {
			lc.problem(AuditProblem{RecordID: r.ID, Chain: r.Chain, Seq: r.Seq, Entity: r.Chain, Field: f,
				Reason: fmt.Sprintf("%s does not change %s, yet its snapshot has %s where the previous one had %s: the row was changed behind the application's back before this change",
					r.Action, f, clip(c), clip(p))})
			break
		}
	}
	return cur
}

func (lc *liveCheck) cases(ctx context.Context) error {
	for cursor := ""; ; {
		page, err := lc.s.cfg.Store.ListCases(ctx, CaseFilter{Cursor: cursor, Limit: MaxLimit})
		if err != nil {
			return err
		}
		for _, c := range page {
			if err := lc.entity(ctx, "case", c.ID, func() (map[string]any, error) {
				full, err := lc.s.cfg.Store.GetCase(ctx, c.ID) // ReportIDs filled
				if err != nil {
					return nil, err
				}
				return caseState(full), nil
			}); err != nil {
				return err
			}
			cursor = c.ID
		}
		if len(page) < MaxLimit {
			return nil
		}
	}
}

func (lc *liveCheck) reports(ctx context.Context) error {
	for cursor := ""; ; {
		page, err := lc.s.cfg.Store.ListReports(ctx, ReportFilter{Cursor: cursor, Limit: MaxLimit})
		if err != nil {
			return err
		}
		for _, r := range page {
			id := r.ID
			if err := lc.entity(ctx, "report", id, func() (map[string]any, error) {
				full, err := lc.s.cfg.Store.GetReport(ctx, id)
				if err != nil {
					return nil, err
				}
				return lc.s.reportState(full), nil
			}); err != nil {
				return err
			}
			cursor = id
		}
		if len(page) < MaxLimit {
			return nil
		}
	}
}

// missingRows reports the chains whose row is gone: deleted behind the
// application's back (the service never deletes a case or a report).
func (lc *liveCheck) missingRows() {
	var gone []string
	for chain, h := range lc.chains {
		if !h.seen && h.comparable() {
			gone = append(gone, chain)
		}
	}
	sort.Strings(gone)
	for _, chain := range gone {
		lc.problem(AuditProblem{Entity: chain, Chain: chain,
			Reason: "the audit history records this entity but its row is missing: it was deleted behind the application's back"})
	}
}

// entity compares one live row (read by live) with its history; the chain
// is marked seen so that missingRows can name the chains left over.
func (lc *liveCheck) entity(ctx context.Context, typ, id string, live func() (map[string]any, error)) error {
	chain := ChainFor(typ, id)
	h := lc.chains[chain]
	if h == nil {
		// Created after the scan passed, or inserted without history.
		h = &history{}
		if err := lc.catchUp(ctx, chain, h); err != nil {
			return err
		}
		if h.lastID == 0 {
			lc.problem(AuditProblem{Entity: chain, Chain: chain,
				Reason: fmt.Sprintf("the %s has no audit history: its row was inserted behind the application's back", typ)})
			return nil
		}
		lc.chains[chain] = h
	}
	h.seen = true
	fields := caseFields
	if typ == "report" {
		fields = reportFields
	}
	// A mismatch may be a change committed after the scan read the chain:
	// read the row, then the records appended since; only when no record
	// arrived between the two reads is the mismatch the row's own.
	for attempt := 0; ; attempt++ {
		if !h.comparable() {
			lc.res.Unchecked++
			return nil
		}
		state, err := live()
		if ErrorCodeOf(err) == ENotFound {
			return nil // deleted during the verification: reported as a missing row only if its chain says so
		}
		if err != nil {
			return err
		}
		canon, err := CanonicalJSON(state)
		if err != nil {
			return Internal(err)
		}
		if sha256.Sum256(canon) == h.digest {
			lc.res.Checked++
			return nil
		}
		before := h.lastID
		if err := lc.catchUp(ctx, chain, h); err != nil {
			return err
		}
		if h.lastID != before && attempt < 3 {
			continue
		}
		lc.res.Checked++
		return lc.diverged(ctx, chain, h, fields, canon)
	}
}

// catchUp folds the records of chain appended after h.lastID.
func (lc *liveCheck) catchUp(ctx context.Context, chain string, h *history) error {
	for {
		recs, err := lc.s.cfg.Store.ListAudit(ctx, AuditFilter{Chain: chain, AfterID: h.lastID, Limit: MaxLimit})
		if err != nil {
			return err
		}
		for _, r := range recs {
			h.fold(r)
		}
		if len(recs) < MaxLimit {
			return nil
		}
	}
}

// diverged names the first field in which the live row differs from the
// snapshot of record h.stateAt.
func (lc *liveCheck) diverged(ctx context.Context, chain string, h *history, fields []string, liveCanon []byte) error {
	recs, err := lc.s.cfg.Store.ListAudit(ctx, AuditFilter{Chain: chain, AfterID: h.stateAt - 1, Limit: 1})
	if err != nil {
		return err
	}
	if len(recs) == 0 || recs[0].ID != h.stateAt {
		return Internal(fmt.Errorf("verify live state: record %d of %s vanished", h.stateAt, chain))
	}
	var want, got map[string]json.RawMessage
	if err := json.Unmarshal(recordState(recs[0]), &want); err != nil {
		return Internal(fmt.Errorf("verify live state: snapshot of record %d: %w", h.stateAt, err))
	}
	if err := json.Unmarshal(liveCanon, &got); err != nil {
		return Internal(err)
	}
	field := ""
	for _, f := range fields {
		w, inW := want[f]
		g, inG := got[f]
		if inW && inG && !bytes.Equal(w, g) {
			field = f
			break
		}
	}
	if field == "" { // a field this version does not list, or one side lacks a digest
		for _, f := range sortedKeys(want) {
			if g, ok := got[f]; ok && !slices.Contains(fields, f) && !bytes.Equal(want[f], g) {
				field = f
				break
			}
		}
	}
	if field == "" {
		lc.res.Checked-- // the snapshots differ only in fields one side lacks
		lc.res.Unchecked++
		return nil
	}
	lc.problem(AuditProblem{Entity: chain, Field: field, Chain: chain, Seq: recs[0].Seq,
		Reason: fmt.Sprintf("live %s differs from its audit history (record %d has %s, the row has %s): the row was changed behind the application's back",
			field, recs[0].ID, clip(want[field]), clip(got[field]))})
	return nil
}

func sortedKeys(m map[string]json.RawMessage) []string {
	ks := make([]string, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	return ks
}

// clip shortens a JSON value for a problem message.
func clip(v json.RawMessage) string {
	if len(v) > 80 {
		return string(v[:77]) + "..."
	}
	return string(v)
}
