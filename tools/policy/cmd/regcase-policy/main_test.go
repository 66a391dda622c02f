package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestExitCodes(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.yml")
	os.WriteFile(bad, []byte("services:\n  db:\n    image: postgres:latest\n    ports: [\"5432:5432\"]\n    environment: {POSTGRES_PASSWORD: example-pw}\n"), 0o644)
	root := filepath.Join("..", "..", "..", "..")
	cases := []struct {
		name string
		args []string
		code int
		out  string
	}{
		{"prod passes", []string{"check", "--no-os-env", "-f", filepath.Join(root, "compose.yml"), "-f", filepath.Join(root, "compose.prod.yml"), "--env-file", filepath.Join(root, "env/prod.env.example")}, 0, ""},
		{"bad fails", []string{"check", "--no-os-env", "-f", bad}, 1, "db: data-port-published:"},
		{"unloadable", []string{"check", "--no-os-env", "-f", filepath.Join(root, "compose.yml"), "-f", filepath.Join(root, "compose.prod.yml")}, 2, ""},
		{"usage", []string{"check"}, 64, ""},
		{"unknown", []string{"frobnicate"}, 64, ""},
		{"rules", []string{"rules"}, 0, "secret-in-env"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var out, errb bytes.Buffer
			if got := run(c.args, &out, &errb); got != c.code {
				t.Fatalf("exit %d, want %d\nstdout:%s\nstderr:%s", got, c.code, out.String(), errb.String())
			}
			if !strings.Contains(out.String(), c.out) {
				t.Errorf("stdout lacks %q:\n%s", c.out, out.String())
			}
			if strings.Contains(out.String()+errb.String(), "example-pw") {
				t.Error("a secret value was printed")
			}
		})
	}
}
