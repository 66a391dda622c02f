package s3blob

import (
	"context"
	"errors"
	"log/slog"
	"time"

	"github.com/minio/minio-go/v7"

	"github.com/regcase/regcase/internal/config"
	"github.com/regcase/regcase/internal/regcase"
)

// Open returns the attachment content store the settings ask for: nil
// (content in the database) when REGCASE_S3_ENDPOINT is empty, else the
// bucket's Blobs, checked once (a wrong bucket, key or region is a
// *config.Error naming the setting; an unreachable server only a warning:
// uploads answer 503 until it is back) and swept for orphans every
// REGCASE_S3_SWEEP_EVERY for the life of the process.
func Open(c config.S3, st regcase.Store) (regcase.Blobs, error) {
	if !c.Enabled() {
		return nil, nil
	}
	b, err := New(Config{Endpoint: c.Endpoint, Secure: c.Secure, Bucket: c.Bucket, Region: c.Region,
		AccessKeyID: c.AccessKeyID, SecretAccessKey: c.SecretAccessKey, PathStyle: c.PathStyle,
		Prefix: c.Prefix, OrphanAge: c.OrphanAge}, StoreExists(st), nil)
	if err != nil {
		return nil, &config.Error{Var: "REGCASE_S3_ENDPOINT", Msg: err.Error()}
	}
	b.Fallback = st.AttachmentChunk // files stored in the database before the switch
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := b.Check(ctx); err != nil {
		if v := checkVar(err); v != "" {
			return nil, &config.Error{Var: v, Msg: err.Error()}
		}
		b.log.Warn("the S3 attachment store is not reachable; uploads and downloads fail until it is", slog.String("endpoint", c.Endpoint), slog.Any("err", err))
	}
	go b.RunSweeper(context.Background(), c.SweepEvery)
	return b, nil
}

// checkVar names the setting a failed Check points at ("" when the server
// did not answer).
func checkVar(err error) string {
	var r minio.ErrorResponse
	if !errors.As(err, &r) {
		if err != nil && errors.Is(err, errNoBucket) {
			return "REGCASE_S3_BUCKET"
		}
		return ""
	}
	switch r.Code {
	case "InvalidAccessKeyId", "SignatureDoesNotMatch", "AccessDenied", "InvalidToken", "ExpiredToken":
		return "REGCASE_S3_ACCESS_KEY_ID"
	case "AuthorizationHeaderMalformed", "InvalidRegion", "IllegalLocationConstraintException":
		return "REGCASE_S3_REGION"
	case "NoSuchBucket", "InvalidBucketName":
		return "REGCASE_S3_BUCKET"
	}
	return "REGCASE_S3_ENDPOINT"
}
