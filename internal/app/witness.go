package app

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/regcase/regcase/internal/config"
	"github.com/regcase/regcase/internal/regcase"
)

// auditKeySet is every key audit signatures are checked with:
// REGCASE_AUDIT_PUBLIC_KEYS plus the current public key under the origin.
func auditKeySet(c *config.Config, k *keys) (*regcase.AuditKeys, error) {
	ks, err := regcase.ParseAuditKeys(strings.Join(c.AuditLog.PublicKeys, "\n"))
	if err != nil {
		return nil, &config.Error{Var: "REGCASE_AUDIT_PUBLIC_KEYS", Msg: regcase.ErrorMessage(err)}
	}
	if k.public != nil {
		if err := ks.AddEd25519(c.AuditLog.Origin, k.public); err != nil {
			return nil, &config.Error{Var: "REGCASE_AUDIT_ORIGIN", Msg: regcase.ErrorMessage(err)}
		}
	}
	return ks, nil
}

// witnessFileName is the file of the checkpoint of a tree size in a
// witness directory: zero-padded, so names sort by size.
func witnessFileName(size int64) string { return fmt.Sprintf("checkpoint.%020d", size) }

// writeWitness appends a checkpoint to the witness directory: a new file,
// created exclusively (0600, directory 0700), never overwritten. The same
// checkpoint again is fine; a different one of the same size is an error
// (someone forked the log).
func writeWitness(dir string, c *regcase.TreeCheckpoint) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	path := filepath.Join(dir, witnessFileName(c.Size))
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if errors.Is(err, os.ErrExist) {
		old, rerr := os.ReadFile(path)
		if rerr != nil {
			return rerr
		}
		if !bytes.Equal(old, c.Note) {
			return fmt.Errorf("%s already holds a DIFFERENT checkpoint of tree size %d: the log was forked", path, c.Size)
		}
		return nil
	}
	if err != nil {
		return err
	}
	if _, err := f.Write(c.Note); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	if d, err := os.Open(dir); err == nil { // make the new name durable
		_ = d.Sync()
		d.Close()
	}
	return nil
}

// maxNoteBytes bounds a checkpoint read from a witness.
const maxNoteBytes = 64 << 10

// loadWitness reads witness checkpoints from src: an http(s) URL serving
// one checkpoint, a directory of checkpoint files (every regular file not
// starting with a dot), or one file. Each is verified with keys.
func loadWitness(ctx context.Context, src string, keys *regcase.AuditKeys) ([]regcase.WitnessCheckpoint, error) {
	type raw struct {
		name string
		b    []byte
	}
	var raws []raw
	switch {
	case strings.HasPrefix(src, "http://") || strings.HasPrefix(src, "https://"):
		ctx, cancel := context.WithTimeout(ctx, 15*time.Second)
		defer cancel()
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, src, nil)
		if err != nil {
			return nil, &usageError{msg: fmt.Sprintf("--witness %s: %v", src, err)}
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return nil, &exitError{code: ExitUnavail, msg: fmt.Sprintf("witness %s: %v", src, err)}
		}
		defer resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return nil, &exitError{code: ExitUnavail, msg: fmt.Sprintf("witness %s: HTTP %d", src, resp.StatusCode)}
		}
		b, err := io.ReadAll(io.LimitReader(resp.Body, maxNoteBytes))
		if err != nil {
			return nil, &exitError{code: ExitUnavail, msg: fmt.Sprintf("witness %s: %v", src, err)}
		}
		raws = append(raws, raw{src, b})
	default:
		st, err := os.Stat(src)
		if err != nil {
			return nil, &usageError{msg: fmt.Sprintf("--witness: %v", err)}
		}
		files := []string{src}
		if st.IsDir() {
			ents, err := os.ReadDir(src)
			if err != nil {
				return nil, &usageError{msg: fmt.Sprintf("--witness: %v", err)}
			}
			files = files[:0]
			for _, e := range ents {
				if e.Type().IsRegular() && !strings.HasPrefix(e.Name(), ".") {
					files = append(files, filepath.Join(src, e.Name()))
				}
			}
			sort.Strings(files)
		}
		for _, f := range files {
			b, err := readLimited(f)
			if err != nil {
				return nil, &usageError{msg: fmt.Sprintf("--witness: %v", err)}
			}
			raws = append(raws, raw{f, b})
		}
	}
	out := make([]regcase.WitnessCheckpoint, 0, len(raws))
	for _, r := range raws {
		w, err := regcase.ParseWitness(r.name, r.b, keys)
		if err != nil {
			return nil, &exitError{code: ExitDataErr, msg: regcase.ErrorMessage(err)}
		}
		out = append(out, w)
	}
	return out, nil
}

// readLimited reads a small file (a checkpoint or a proof).
func readLimited(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, maxNoteBytes+1))
	if err != nil {
		return nil, err
	}
	if len(b) > maxNoteBytes {
		return nil, fmt.Errorf("%s is larger than %d bytes", path, maxNoteBytes)
	}
	return b, nil
}
