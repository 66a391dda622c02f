package config

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestS3(t *testing.T) {
	t.Run("OffByDefault", func(t *testing.T) {
		c, err := Load(env(nil), "api")
		if err != nil {
			t.Fatal(err)
		}
		if c.S3.Enabled() {
			t.Errorf("s3 = %+v", c.S3)
		}
	})
	t.Run("OKSecretFileTLSMasked", func(t *testing.T) {
		f := filepath.Join(t.TempDir(), "s3-secret")
		if err := os.WriteFile(f, []byte("wJalrXUtnFEMI\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		c, err := Load(env(map[string]string{"REGCASE_S3_ENDPOINT": "s3.eu-west-1.amazonaws.com", "REGCASE_S3_BUCKET": "regcase-evidence",
			"REGCASE_S3_REGION": "eu-west-1", "REGCASE_S3_ACCESS_KEY_ID": "AKIAEXAMPLE", "REGCASE_S3_SECRET_ACCESS_KEY_FILE": f,
			"REGCASE_S3_PREFIX": "prod"}), "api")
		if err != nil {
			t.Fatal(err)
		}
		s := c.S3
		if !s.Enabled() || !s.Secure || s.SecretAccessKey != "wJalrXUtnFEMI" || s.Prefix != "prod/" || s.OrphanAge != 24*time.Hour || s.SweepEvery != time.Hour {
			t.Errorf("s3 = %+v", s)
		}
		var b strings.Builder
		for _, a := range c.LogAttrs() {
			b.WriteString(toString(a))
		}
		if strings.Contains(b.String(), "wJalrXUtnFEMI") || strings.Contains(b.String(), "AKIAEXAMPLE") {
			t.Error("an S3 credential is in the startup log attributes")
		}
	})
	t.Run("EmptySecretFileIsUnset", func(t *testing.T) {
		f := filepath.Join(t.TempDir(), "empty")
		if err := os.WriteFile(f, nil, 0o600); err != nil {
			t.Fatal(err)
		}
		c, err := Load(env(map[string]string{"REGCASE_S3_SECRET_ACCESS_KEY_FILE": f}), "api")
		if err != nil || c.S3.Enabled() {
			t.Fatalf("%+v %v", c, err)
		}
	})
	t.Run("HTTPSURL", func(t *testing.T) {
		c, err := Load(env(map[string]string{"REGCASE_S3_ENDPOINT": "https://minio.internal:9000", "REGCASE_S3_BUCKET": "b12"}), "api")
		if err != nil || c.S3.Endpoint != "minio.internal:9000" || !c.S3.Secure {
			t.Fatalf("%+v %v", c, err)
		}
	})
	t.Run("HTTPOnlyWhenAllowed", func(t *testing.T) {
		c, err := Load(env(map[string]string{"REGCASE_S3_ENDPOINT": "http://minio:9000", "REGCASE_S3_BUCKET": "b12", "REGCASE_S3_ALLOW_HTTP": "true"}), "api")
		if err != nil || c.S3.Endpoint != "minio:9000" || c.S3.Secure {
			t.Fatalf("%+v %v", c, err)
		}
	})
	for _, tc := range []struct {
		name string
		env  map[string]string
		want string
	}{
		{"ErrPlainHTTP", map[string]string{"REGCASE_S3_ENDPOINT": "http://minio:9000", "REGCASE_S3_BUCKET": "b12"}, "REGCASE_S3_ENDPOINT"},
		{"ErrScheme", map[string]string{"REGCASE_S3_ENDPOINT": "ftp://minio", "REGCASE_S3_BUCKET": "b12"}, "REGCASE_S3_ENDPOINT"},
		{"ErrPath", map[string]string{"REGCASE_S3_ENDPOINT": "https://minio/bucket", "REGCASE_S3_BUCKET": "b12"}, "REGCASE_S3_ENDPOINT"},
		{"ErrBucketWithoutEndpoint", map[string]string{"REGCASE_S3_BUCKET": "b12"}, "REGCASE_S3_ENDPOINT"},
		{"ErrBucketRequired", map[string]string{"REGCASE_S3_ENDPOINT": "minio:9000"}, "REGCASE_S3_BUCKET"},
		{"ErrBucketName", map[string]string{"REGCASE_S3_ENDPOINT": "minio:9000", "REGCASE_S3_BUCKET": "Evidence_Files"}, "REGCASE_S3_BUCKET"},
		{"ErrKeyWithoutSecret", map[string]string{"REGCASE_S3_ENDPOINT": "minio:9000", "REGCASE_S3_BUCKET": "b12", "REGCASE_S3_ACCESS_KEY_ID": "k"}, "REGCASE_S3_ACCESS_KEY_ID"},
		{"ErrSecretTwice", map[string]string{"REGCASE_S3_SECRET_ACCESS_KEY": "s", "REGCASE_S3_SECRET_ACCESS_KEY_FILE": "/x"}, "REGCASE_S3_SECRET_ACCESS_KEY"},
		{"ErrPrefix", map[string]string{"REGCASE_S3_ENDPOINT": "minio:9000", "REGCASE_S3_BUCKET": "b12", "REGCASE_S3_PREFIX": "../up"}, "REGCASE_S3_PREFIX"},
		{"ErrPathStyle", map[string]string{"REGCASE_S3_PATH_STYLE": "yes"}, "REGCASE_S3_PATH_STYLE"},
		{"ErrOrphanAge", map[string]string{"REGCASE_S3_ENDPOINT": "minio:9000", "REGCASE_S3_BUCKET": "b12", "REGCASE_S3_ORPHAN_AGE": "5m"}, "REGCASE_S3_ORPHAN_AGE"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Load(env(tc.env), "api")
			var ce *Error
			if !errors.As(err, &ce) || ce.Var != tc.want {
				t.Errorf("Load = %v, want an error naming %s", err, tc.want)
			}
		})
	}
}
