// Package web is the server-rendered web console of regcase: the public
// pages (submit a report, check its status) and the officers' console under
// /console (triage, cases, audit, tokens). Pages are embedded html/template
// files and one small stylesheet; there is no JavaScript, so every page works
// with scripting disabled. Handlers call the domain service directly.
package web
