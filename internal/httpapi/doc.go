// Package httpapi is the JSON HTTP API (v1), the health, metrics and version
// endpoints, and the OpenAPI document generated from the handlers' types.
package httpapi
