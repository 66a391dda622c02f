package httpapi

import (
	"crypto/sha256"
	"encoding/base64"
	"html/template"
	"net/http"
	"sort"
	"strings"

	"github.com/danielgtaylor/huma/v2"
)

// docsCSS is the page's only style; the CSP admits it by its hash, so the page
// runs no script and loads nothing from elsewhere, like the console's pages.
const docsCSS = `body{font:16px/1.5 system-ui,sans-serif;max-width:60rem;margin:0 auto;padding:1rem;color:#1b1b1b}
code,pre{font-family:ui-monospace,monospace}.op{border-top:1px solid #ccc;padding:.5rem 0}
.m{display:inline-block;min-width:4.5rem;font-weight:700}.get{color:#05612b}.post{color:#0b3d91}.patch{color:#7a4b00}.delete{color:#9b1c1c}
`

// docsCSP is the Content-Security-Policy of /docs.
var docsCSP = "default-src 'none'; style-src '" + cspHash(docsCSS) + "'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'"

func cspHash(s string) string {
	sum := sha256.Sum256([]byte(s))
	return "sha256-" + base64.StdEncoding.EncodeToString(sum[:])
}

var docsTmpl = template.Must(template.New("docs").Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>{{.Title}} — API reference</title>
<style>{{.CSS}}</style></head><body><main>
<h1>{{.Title}}</h1><p>{{.Description}}</p>
<p>Machine-readable: <a href="/openapi.json">/openapi.json</a> (OpenAPI {{.Version}}, generated from the code). Errors are
<code>application/problem+json</code> (RFC 9457) with a stable <code>type</code> of the form <code>urn:regcase:problem:&lt;code&gt;</code>.
Case mutations need <code>If-Match</code> with the case's ETag.</p>
{{range .Ops}}<section class="op" id="{{.ID}}"><h2><span class="m {{.Class}}">{{.Method}}</span> <code>{{.Path}}</code></h2>
<p>{{.Summary}}{{if .Public}} — <strong>public</strong>{{end}}</p>
{{if .Params}}<p>Parameters: {{range $i, $p := .Params}}{{if $i}}, {{end}}<code>{{$p}}</code>{{end}}</p>{{end}}</section>
{{end}}</main></body></html>`))

type docOp struct {
	ID, Method, Class, Path, Summary string
	Public                           bool
	Params                           []string
}

// docs serves a human reference page rendered from the OpenAPI document, so
// it works offline and cannot drift from the code.
func (s *server) docs(w http.ResponseWriter, r *http.Request) {
	oa := s.api.OpenAPI()
	var ops []docOp
	for path, item := range oa.Paths {
		for method, op := range map[string]*huma.Operation{"GET": item.Get, "POST": item.Post, "PATCH": item.Patch, "DELETE": item.Delete, "PUT": item.Put} {
			if op == nil {
				continue
			}
			d := docOp{ID: op.OperationID, Method: method, Class: strings.ToLower(method), Path: path, Summary: op.Summary, Public: len(op.Security) == 0}
			for _, p := range op.Parameters {
				d.Params = append(d.Params, p.In+":"+p.Name)
			}
			ops = append(ops, d)
		}
	}
	sort.Slice(ops, func(i, j int) bool {
		if ops[i].Path != ops[j].Path {
			return ops[i].Path < ops[j].Path
		}
		return ops[i].Method < ops[j].Method
	})
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Content-Security-Policy", docsCSP)
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("X-Frame-Options", "DENY")
	h.Set("Referrer-Policy", "same-origin")
	_ = docsTmpl.Execute(w, map[string]any{"CSS": template.CSS(docsCSS), "Title": oa.Info.Title, "Description": oa.Info.Description, "Version": oa.OpenAPI, "Ops": ops})
}
