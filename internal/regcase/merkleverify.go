package regcase

import (
	"context"
	"fmt"
	"sort"

	"golang.org/x/mod/sumdb/tlog"
)

// memTree is the whole Merkle tree recomputed from the leaves, in memory
// (2 hashes per leaf: 64 MB for a million records).
type memTree struct {
	hashes []tlog.Hash // by stored hash index
	size   int64
}

func (m *memTree) ReadHashes(indexes []int64) ([]tlog.Hash, error) {
	out := make([]tlog.Hash, len(indexes))
	for k, i := range indexes {
		if i < 0 || i >= int64(len(m.hashes)) {
			return nil, fmt.Errorf("stored hash %d is beyond the tree", i)
		}
		out[k] = m.hashes[i]
	}
	return out, nil
}

func (m *memTree) add(h tlog.Hash) error {
	hs, err := tlog.StoredHashesForRecordHash(m.size, h, m)
	if err != nil {
		return err
	}
	m.hashes = append(m.hashes, hs...)
	m.size++
	return nil
}

// treeProblem records a problem of the Merkle log.
func (v *verifier) treeProblem(size int64, reason string) {
	v.problem(AuditProblem{TreeSize: size, Reason: reason})
}

// verifyTree checks the Merkle log against the records: leaves are
// contiguous and each names an existing record with its current hash, the
// stored tree hashes are the ones recomputed from the leaves, every tree
// checkpoint is signed by a key of keys (when any) and its root is the
// recomputed tree's at its size. Witness checkpoints (from outside the
// database) must each still be in the database, with the same root, and
// be a prefix of the log. It returns the recomputed tree.
func (s *Service) verifyTree(ctx context.Context, v *verifier, keys *AuditKeys, witness []WitnessCheckpoint) error {
	t := &memTree{}
	err := s.cfg.Store.ScanLeaves(ctx, func(l *Leaf) error {
		switch {
		case l.Index != t.size:
			v.treeProblem(t.size, fmt.Sprintf("leaf %d follows leaf %d: leaves were deleted, inserted or moved", l.Index, t.size-1))
		case l.RecordHash == nil:
			v.treeProblem(l.Index+1, fmt.Sprintf("leaf %d names audit record %d, which is missing: it was deleted", l.Index, l.RecordID))
		case LeafHash(l.RecordID, l.RecordHash) != l.Hash:
			v.treeProblem(l.Index+1, fmt.Sprintf("leaf %d does not match audit record %d: the record was modified, replaced or renumbered", l.Index, l.RecordID))
		}
		v.res.TreeSize++
		return t.add(l.Hash)
	})
	if err != nil {
		return err
	}
	v.res.Unsequenced = max(0, v.res.Records-v.res.TreeSize)
	stored := int64(0)
	err = s.cfg.Store.ScanTreeHashes(ctx, func(i int64, h tlog.Hash) error {
		switch {
		case i != stored:
			v.treeProblem(0, fmt.Sprintf("stored tree hash %d is missing: proofs cannot be served", stored))
			return errStopScan
		case i >= int64(len(t.hashes)) || t.hashes[i] != h:
			v.treeProblem(0, fmt.Sprintf("stored tree hash %d differs from the tree recomputed from the leaves: proofs served from it would be false", i))
			return errStopScan
		}
		stored++
		return nil
	})
	if err != nil && err != errStopScan {
		return err
	}
	if err == nil && stored != int64(len(t.hashes)) {
		v.treeProblem(0, fmt.Sprintf("the database holds %d stored tree hashes, the leaves need %d", stored, len(t.hashes)))
	}
	cps, err := s.cfg.Store.ListTreeCheckpoints(ctx)
	if err != nil {
		return err
	}
	v.res.TreeCheckpoints = len(cps)
	dbRoots := map[int64]tlog.Hash{}
	for _, c := range cps {
		dbRoots[c.Size] = c.Root
		v.checkTreeCheckpoint(t, c, keys, "")
		v.res.LastTreeSignedAt = c.Time
	}
	var latest *TreeCheckpoint
	if len(cps) > 0 {
		latest = cps[len(cps)-1]
	}
	sort.SliceStable(witness, func(i, j int) bool { return witness[i].Size < witness[j].Size })
	for _, w := range witness {
		v.res.WitnessCheckpoints++
		s.checkWitness(ctx, v, t, dbRoots, latest, w)
	}
	return nil
}

// errStopScan ends a scan early without an error.
var errStopScan = fmt.Errorf("stop scan")

func (v *verifier) checkTreeCheckpoint(t *memTree, c *TreeCheckpoint, keys *AuditKeys, from string) {
	if keys.Len() > 0 {
		sc, err := OpenCheckpoint(c.Note, keys)
		if err != nil {
			v.problem(AuditProblem{TreeSize: c.Size, Witness: from, Reason: ErrorMessage(err) + ": the checkpoint was forged or rewritten"})
			return
		}
		if sc.Size != c.Size || sc.Root != c.Root {
			v.problem(AuditProblem{TreeSize: c.Size, Witness: from, Reason: "the signed note does not say the stored size and root: the row was rewritten"})
			return
		}
	}
	if c.Size > t.size {
		v.problem(AuditProblem{TreeSize: c.Size, Witness: from, Reason: fmt.Sprintf("checkpoint of tree size %d, but the log has %d leaves: leaves were deleted", c.Size, t.size)})
		return
	}
	if root, err := tlog.TreeHash(c.Size, t); err != nil || root != c.Root {
		v.problem(AuditProblem{TreeSize: c.Size, Witness: from, Reason: "root hash differs from the tree recomputed from the leaves: history before it was rewritten, reordered or removed"})
	}
}

// WitnessCheckpoint is a signed tree checkpoint kept outside the database
// (a witness directory, a webhook receiver's copy, a URL); Source names it
// in problems.
type WitnessCheckpoint struct {
	Source string
	Size   int64
	Root   tlog.Hash
	Note   []byte
}

// ParseWitness verifies and parses a witness copy of a checkpoint (EInvalid
// when malformed or not signed by a key of keys).
func ParseWitness(source string, msg []byte, keys *AuditKeys) (WitnessCheckpoint, error) {
	c, err := OpenCheckpoint(msg, keys)
	if err != nil {
		return WitnessCheckpoint{}, Errorf(EInvalid, "witness checkpoint %s: %s", source, ErrorMessage(err))
	}
	return WitnessCheckpoint{Source: source, Size: c.Size, Root: c.Root, Note: msg}, nil
}

func (s *Service) checkWitness(ctx context.Context, v *verifier, t *memTree, dbRoots map[int64]tlog.Hash, latest *TreeCheckpoint, w WitnessCheckpoint) {
	bad := func(reason string) { v.problem(AuditProblem{TreeSize: w.Size, Witness: w.Source, Reason: reason}) }
	root, ok := dbRoots[w.Size]
	switch {
	case !ok && w.Size > t.size:
		bad(fmt.Sprintf("the witness holds a checkpoint of tree size %d that the database no longer has, and the log has only %d leaves: records and checkpoints were deleted (tail truncation or rollback)", w.Size, t.size))
		return
	case !ok:
		bad(fmt.Sprintf("the witness holds a checkpoint of tree size %d that the database no longer has: checkpoints were deleted", w.Size))
	case root != w.Root:
		bad(fmt.Sprintf("the database's checkpoint of tree size %d has a different root than the witness's copy: the checkpoint was replaced", w.Size))
		return
	}
	if w.Size > t.size {
		bad(fmt.Sprintf("the log has only %d leaves: records were deleted", t.size))
		return
	}
	if r, err := tlog.TreeHash(w.Size, t); err != nil || r != w.Root {
		bad("the log recomputed from its leaves is not consistent with the witness's checkpoint: history before it was rewritten, reordered or removed")
		return
	}
	// The proof an auditor would be served: from the witness's size to the
	// database's newest checkpoint, from the stored hashes.
	if latest == nil || latest.Size < w.Size {
		return
	}
	p, err := tlog.ProveTree(latest.Size, w.Size, storeHashes(ctx, s.cfg.Store))
	if err == nil {
		err = tlog.CheckTree(p, latest.Size, latest.Root, w.Size, w.Root)
	}
	if err != nil {
		bad(fmt.Sprintf("no consistency proof from the witness's checkpoint to the database's newest (tree size %d): %v", latest.Size, err))
	}
}

// storeHashes reads stored tree hashes through r.
func storeHashes(ctx context.Context, r TreeReader) tlog.HashReader {
	return tlog.HashReaderFunc(func(idx []int64) ([]tlog.Hash, error) { return r.ReadTreeHashes(ctx, idx) })
}
