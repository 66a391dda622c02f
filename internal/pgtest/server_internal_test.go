package pgtest

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestFindBinDir(t *testing.T) {
	t.Run("ErrNoBinariesSaysWhatToRun", func(t *testing.T) {
		t.Setenv("PATH", t.TempDir())
		_, err := findBinDir(filepath.Join(t.TempDir(), "*", "bin"))
		if err == nil || !strings.Contains(err.Error(), "scripts/install-test-deps.sh") {
			t.Errorf("findBinDir = %v, want an error naming scripts/install-test-deps.sh", err)
		}
	})
	t.Run("OKHighestVersion", func(t *testing.T) {
		root := t.TempDir()
		for _, v := range []string{"9", "15", "16"} {
			bin := filepath.Join(root, v, "bin")
			if err := os.MkdirAll(bin, 0o755); err != nil {
				t.Fatal(err)
			}
			for _, p := range []string{"initdb", "pg_ctl"} {
				if err := os.WriteFile(filepath.Join(bin, p), []byte("#!/bin/sh\n"), 0o755); err != nil {
					t.Fatal(err)
				}
			}
		}
		got, err := findBinDir(filepath.Join(root, "*", "bin"))
		if want := filepath.Join(root, "16", "bin"); err != nil || got != want {
			t.Errorf("findBinDir = %q, %v; want %q", got, err, want)
		}
	})
}
