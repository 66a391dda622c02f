package config

import (
	"log/slog"
	"net/url"
	"strings"
	"time"
)

// S3 configures an S3-compatible store for attachment content. Endpoint
// empty: content stays in the database.
type S3 struct {
	// Endpoint is host[:port] or an https:// URL (TLS); an http:// URL is
	// accepted only with AllowHTTP (a local MinIO, a test server).
	Endpoint        string
	Secure          bool // TLS to the endpoint
	Bucket          string
	Region          string
	AccessKeyID     string // secret-capable (_FILE)
	SecretAccessKey string // secret
	PathStyle       bool   // bucket in the path, not the host name
	AllowHTTP       bool
	// Prefix is prepended to every object key ("" or ending in "/").
	Prefix string
	// OrphanAge: objects of an attachment that has no row (an aborted
	// upload, an erasure whose deletion failed) are deleted once their
	// newest object is this old. SweepEvery is how often a process looks.
	OrphanAge  time.Duration
	SweepEvery time.Duration
}

// Enabled reports whether attachment content goes to S3.
func (s S3) Enabled() bool { return s.Endpoint != "" }

// s3 reads the REGCASE_S3_* settings.
func (r *reader) s3(c *Config) {
	s := &c.S3
	endpoint := r.str("REGCASE_S3_ENDPOINT", "")
	s.Bucket = r.str("REGCASE_S3_BUCKET", "")
	s.Region = r.str("REGCASE_S3_REGION", "")
	s.AccessKeyID = r.secret("REGCASE_S3_ACCESS_KEY_ID")
	s.SecretAccessKey = r.secret("REGCASE_S3_SECRET_ACCESS_KEY")
	s.PathStyle = r.boolean("REGCASE_S3_PATH_STYLE", false)
	s.AllowHTTP = r.boolean("REGCASE_S3_ALLOW_HTTP", false)
	s.Prefix = r.str("REGCASE_S3_PREFIX", "")
	s.OrphanAge = r.duration("REGCASE_S3_ORPHAN_AGE", 24*time.Hour)
	s.SweepEvery = r.duration("REGCASE_S3_SWEEP_EVERY", time.Hour)
	if endpoint == "" {
		// An empty secret file is "not set": the platform files mount one
		// when the feature is off.
		for v, val := range map[string]string{"REGCASE_S3_BUCKET": s.Bucket, "REGCASE_S3_ACCESS_KEY_ID": s.AccessKeyID, "REGCASE_S3_SECRET_ACCESS_KEY": s.SecretAccessKey} {
			if val != "" {
				r.fail("REGCASE_S3_ENDPOINT", "required with %s: the S3 endpoint, e.g. s3.eu-west-1.amazonaws.com", v)
				return
			}
		}
		return
	}
	host, secure := endpoint, true
	if strings.Contains(endpoint, "://") {
		u, err := url.Parse(endpoint)
		switch {
		case err != nil || u.Host == "" || (u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.User != nil:
			r.fail("REGCASE_S3_ENDPOINT", "%q is not host[:port] or https://host[:port] (no path, query or credentials)", endpoint)
			return
		case u.Scheme == "https":
		case u.Scheme == "http":
			if !s.AllowHTTP {
				r.fail("REGCASE_S3_ENDPOINT", "%q is plain HTTP (credentials and content unprotected in transit); use https or set REGCASE_S3_ALLOW_HTTP=true", endpoint)
				return
			}
			secure = false
		default:
			r.fail("REGCASE_S3_ENDPOINT", "%q: the scheme must be https (or http with REGCASE_S3_ALLOW_HTTP=true)", endpoint)
			return
		}
		host = u.Host
	} else if strings.ContainsAny(endpoint, "/?@ ") {
		r.fail("REGCASE_S3_ENDPOINT", "%q is not host[:port] or https://host[:port]", endpoint)
		return
	}
	s.Endpoint, s.Secure = host, secure
	if !validBucket(s.Bucket) {
		r.fail("REGCASE_S3_BUCKET", "required with REGCASE_S3_ENDPOINT: a bucket name of 3-63 lower-case letters, digits, dots and hyphens")
	}
	if (s.AccessKeyID == "") != (s.SecretAccessKey == "") {
		r.fail("REGCASE_S3_ACCESS_KEY_ID", "set REGCASE_S3_ACCESS_KEY_ID and REGCASE_S3_SECRET_ACCESS_KEY together (both empty: the IAM role of the machine)")
	}
	if p := s.Prefix; p != "" {
		if strings.HasPrefix(p, "/") || strings.Contains(p, "//") || strings.Contains(p, "..") || strings.ContainsAny(p, "\\\x00\r\n") {
			r.fail("REGCASE_S3_PREFIX", "%q: want a relative key prefix like regcase/ (no leading /, no .. or //)", p)
		} else if !strings.HasSuffix(p, "/") {
			s.Prefix = p + "/"
		}
	}
	if s.OrphanAge < time.Hour {
		r.fail("REGCASE_S3_ORPHAN_AGE", "must be at least 1h (longer than any upload transaction)")
	}
	if s.SweepEvery < time.Minute {
		r.fail("REGCASE_S3_SWEEP_EVERY", "must be at least 1m")
	}
}

func validBucket(b string) bool {
	if len(b) < 3 || len(b) > 63 {
		return false
	}
	for i, ch := range b {
		switch {
		case ch >= 'a' && ch <= 'z', ch >= '0' && ch <= '9':
		case (ch == '.' || ch == '-') && i > 0 && i < len(b)-1:
		default:
			return false
		}
	}
	return true
}

// s3Attrs describes the S3 settings, secrets masked.
func (c *Config) s3Attrs() slog.Attr {
	s := c.S3
	return slog.Group("s3", slog.String("endpoint", s.Endpoint), slog.Bool("tls", s.Secure), slog.String("bucket", s.Bucket),
		slog.String("region", s.Region), slog.String("prefix", s.Prefix), slog.Bool("path_style", s.PathStyle),
		slog.Bool("access_key_set", s.AccessKeyID != ""), slog.Bool("secret_key_set", s.SecretAccessKey != ""),
		slog.Duration("orphan_age", s.OrphanAge))
}

// boolean reads true or false (def when unset).
func (r *reader) boolean(name string, def bool) bool {
	switch v := r.get(name); v {
	case "":
		return def
	case "true", "false":
		return v == "true"
	default:
		r.fail(name, "%q is not true or false", v)
		return def
	}
}
