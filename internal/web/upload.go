package web

import (
	"errors"
	"io"
	"mime"
	"net/http"
	"net/url"

	"github.com/regcase/regcase/internal/regcase"
)

// uploadNameKey holds, in r.PostForm, the name of the file a streamed
// multipart form carries ("" when it has none). No form control has this
// name.
const uploadNameKey = ":file"

// maxTextPart bounds one text field of a multipart form.
const maxTextPart = 64 << 10

func isMultipart(r *http.Request) bool {
	mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	return mt == "multipart/form-data"
}

// parseUpload reads a multipart form as a stream: the text fields up to the
// part named "file" become r.PostForm (so the CSRF checks and handlers read
// them as usual; the file must be the form's last control), and r.Body is
// left positioned at the file's content, which uploadedFile returns. Memory
// stays bounded whatever the file's size: nothing of it is read here.
func (c *Console) parseUpload(w http.ResponseWriter, r *http.Request) int {
	limit := c.svc.AttachmentMaxBytes()
	r.Body = http.MaxBytesReader(w, r.Body, limit+maxFormBytes)
	mr, err := r.MultipartReader()
	if err != nil {
		return http.StatusBadRequest
	}
	vals := url.Values{}
	total := 0
	for {
		p, err := mr.NextPart()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return http.StatusBadRequest
		}
		if p.FormName() == "file" {
			if p.FileName() != "" {
				vals.Set(uploadNameKey, p.FileName())
				r.Body = struct {
					io.Reader
					io.Closer
				}{p, r.Body}
			}
			break
		}
		b, err := io.ReadAll(io.LimitReader(p, maxTextPart+1))
		total += len(b)
		if err != nil || len(b) > maxTextPart || total > maxFormBytes {
			return http.StatusRequestEntityTooLarge
		}
		vals.Add(p.FormName(), string(b))
	}
	r.PostForm, r.Form = vals, vals
	return 0
}

// uploadedFile returns the file of a streamed multipart form (see
// parseUpload); ok is false when the form carried none.
func uploadedFile(r *http.Request) (name string, content io.Reader, ok bool) {
	name = r.PostForm.Get(uploadNameKey)
	if name == "" {
		return "", nil, false
	}
	return name, r.Body, true
}

// uploadMessage is what a person is told when a file was not accepted.
func uploadMessage(err error) (string, bool) {
	switch regcase.ErrorCodeOf(err) {
	case regcase.ETooLarge, regcase.EUnsupportedType, regcase.EInvalid, regcase.EConflict:
		return regcase.ErrorMessage(err), true
	}
	return "", false
}

// copyBuffer streams a download with one chunk-sized buffer.
func copyBuffer(w io.Writer, r io.Reader) (int64, error) {
	return io.CopyBuffer(w, r, make([]byte, 64<<10))
}
