package app

import (
	"context"
	"crypto/ed25519"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"

	"golang.org/x/mod/sumdb/tlog"

	"github.com/regcase/regcase/internal/config"
	"github.com/regcase/regcase/internal/httpapi"
	"github.com/regcase/regcase/internal/regcase"
)

// pubKeys is the key set of one raw public key under origin (nil: empty).
func pubKeys(origin string, pub ed25519.PublicKey) *regcase.AuditKeys {
	ks := &regcase.AuditKeys{}
	if pub != nil {
		_ = ks.AddEd25519(origin, pub) // the origin was validated with the configuration
	}
	return ks
}

// auditTreeCheckpoint sequences the Merkle log and signs a tree checkpoint
// now (`audit checkpoint`), copying it to the witness directory.
func (e *env) auditTreeCheckpoint(ctx context.Context, c *config.Config, svc *regcase.Service, k *keys) error {
	signer, _, err := regcase.NewNoteSigner(c.AuditLog.Origin, k.signing)
	if err != nil {
		return &config.Error{Var: "REGCASE_AUDIT_ORIGIN", Msg: regcase.ErrorMessage(err)}
	}
	cp, err := svc.Sequence(ctx, signer)
	if regcase.ErrorCodeOf(err) == regcase.EForbidden {
		// The api role reads the tree but may not append to it.
		fmt.Fprintln(e.stderr, "merkle log: not sequenced: this DATABASE_URL's role is not a member of regcase_worker (use the worker's login)")
		return nil
	}
	if err != nil {
		return err
	}
	if cp == nil {
		fmt.Fprintln(e.stdout, "merkle log: nothing new to checkpoint")
		return nil
	}
	if c.AuditLog.WitnessDir != "" {
		if err := writeWitness(c.AuditLog.WitnessDir, cp); err != nil {
			return &exitError{code: ExitFailure, msg: fmt.Sprintf("checkpoint of tree size %d signed but not witnessed: %v", cp.Size, err)}
		}
	}
	fmt.Fprintf(e.stdout, "merkle log checkpoint signed: tree size %d\n", cp.Size)
	return nil
}

// auditProve prints an inclusion (--record ID [--size N]) or a consistency
// (--from N [--to M]) proof as JSON.
func (e *env) auditProve(ctx context.Context, svc *regcase.Service, f map[string]string) error {
	num := func(name string) (int64, error) {
		v := f[name]
		if v == "" {
			return 0, nil
		}
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n < 1 {
			return 0, &usageError{msg: fmt.Sprintf("--%s must be a positive integer", name)}
		}
		return n, nil
	}
	var vals [4]int64
	for i, name := range []string{"record", "size", "from", "to"} {
		n, err := num(name)
		if err != nil {
			return err
		}
		vals[i] = n
	}
	record, size, from, to := vals[0], vals[1], vals[2], vals[3]
	var body httpapi.ProofBody
	actor := regcase.SystemActor("cli")
	switch {
	case record > 0 && from == 0 && to == 0:
		p, err := svc.ProveInclusion(ctx, actor, record, size)
		if err != nil {
			return err
		}
		body = httpapi.InclusionBodyOf(p)
	case from > 0 && record == 0 && size == 0:
		p, err := svc.ProveConsistency(ctx, actor, from, to)
		if err != nil {
			return err
		}
		body = httpapi.ConsistencyBodyOf(p)
	default:
		return &usageError{msg: "usage: regcase audit prove --record ID [--size N] | --from N [--to M]"}
	}
	enc := json.NewEncoder(e.stdout)
	enc.SetIndent("", "  ")
	return enc.Encode(body)
}

// auditCheckProof verifies a proof file offline, with no database: against
// the checkpoint it carries or --checkpoint FILE (and --old FILE for the
// older checkpoint of a consistency proof), whose signatures must verify
// with the key set --keys FILE. Verification is tlog.CheckRecord /
// tlog.CheckTree.
func (e *env) auditCheckProof() error {
	const usage = "usage: regcase audit check-proof --proof FILE --keys FILE [--checkpoint FILE] [--old FILE]"
	f, rest, err := flags(e.args[1:], "proof", "keys", "checkpoint", "old")
	if err != nil {
		return err
	}
	if len(rest) > 0 || f["proof"] == "" || f["keys"] == "" {
		return &usageError{msg: usage}
	}
	read := func(flag string) ([]byte, error) {
		b, err := readLimited(f[flag])
		if err != nil {
			return nil, &usageError{msg: fmt.Sprintf("--%s: %v", flag, err)}
		}
		return b, nil
	}
	kb, err := read("keys")
	if err != nil {
		return err
	}
	keys, err := regcase.ParseAuditKeys(string(kb))
	if err != nil || keys.Len() == 0 {
		return &usageError{msg: "--keys must list note verifier keys (regcase audit keygen prints them)"}
	}
	pb, err := read("proof")
	if err != nil {
		return err
	}
	var p httpapi.ProofBody
	if err := json.Unmarshal(pb, &p); err != nil {
		return &usageError{msg: fmt.Sprintf("--proof: not a proof (JSON): %v", err)}
	}
	hashes, err := p.ParseProofHashes()
	if err != nil {
		return &exitError{code: ExitDataErr, msg: "proof: " + err.Error()}
	}
	// checkpoint opens the signed note of a flag, or the proof's own copy.
	checkpoint := func(flag, embedded string) (*regcase.TreeCheckpoint, error) {
		msg := []byte(embedded)
		if f[flag] != "" {
			b, err := read(flag)
			if err != nil {
				return nil, err
			}
			msg = b
		}
		c, err := regcase.OpenCheckpoint(msg, keys)
		if err != nil {
			return nil, &exitError{code: ExitDataErr, msg: "checkpoint: " + regcase.ErrorMessage(err)}
		}
		return c, nil
	}
	fail := func(format string, args ...any) error {
		return &exitError{code: ExitDataErr, msg: "proof FAILED: " + fmt.Sprintf(format, args...)}
	}
	switch p.Type {
	case "inclusion":
		c, err := checkpoint("checkpoint", p.Checkpoint)
		if err != nil {
			return err
		}
		rh, err := hex.DecodeString(p.RecordHash)
		if err != nil || len(rh) != regcase.HashSize || p.LeafIndex == nil {
			return fail("record_hash and leaf_index are required")
		}
		if p.TreeSize != c.Size {
			return fail("the proof is for tree size %d, the checkpoint has size %d", p.TreeSize, c.Size)
		}
		if err := tlog.CheckRecord(hashes, c.Size, c.Root, *p.LeafIndex, regcase.LeafHash(p.RecordID, rh)); err != nil {
			return fail("record %d is not leaf %d of the checkpoint of size %d: %v", p.RecordID, *p.LeafIndex, c.Size, err)
		}
		fmt.Fprintf(e.stdout, "proof OK: audit record %d (hash %s) is leaf %d of the signed checkpoint of tree size %d\n",
			p.RecordID, p.RecordHash, *p.LeafIndex, c.Size)
	case "consistency":
		newer, err := checkpoint("checkpoint", p.ToCheckpoint)
		if err != nil {
			return err
		}
		older, err := checkpoint("old", p.FromCheckpoint)
		if err != nil {
			return err
		}
		if older.Size != p.From || newer.Size != p.To {
			return fail("the proof is from %d to %d, the checkpoints have sizes %d and %d", p.From, p.To, older.Size, newer.Size)
		}
		if err := tlog.CheckTree(hashes, newer.Size, newer.Root, older.Size, older.Root); err != nil {
			return fail("the checkpoint of size %d is not a prefix of the one of size %d: %v", older.Size, newer.Size, err)
		}
		fmt.Fprintf(e.stdout, "proof OK: the signed checkpoint of tree size %d is a prefix of the one of size %d\n", older.Size, newer.Size)
	default:
		return fail("unknown proof type %q", strings.TrimSpace(p.Type))
	}
	return nil
}
