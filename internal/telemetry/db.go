package telemetry

import (
	"context"
	"fmt"
	"strings"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"
	"go.opentelemetry.io/otel/trace"
)

// The database systems of StartDB.
var (
	PostgreSQL = semconv.DBSystemNamePostgreSQL
	SQLite     = semconv.DBSystemNameSQLite
	Redis      = semconv.DBSystemNameRedis
)

// End finishes a client span: err (nil = success) marks it failed.
type End func(err error)

func noEnd(error) {}

// StartDB starts a client span for one SQL statement as a child of the
// span in ctx; without a recording span in ctx it does nothing and costs
// one context lookup (background polls do not make orphan spans). The span
// is named by the query summary ("SELECT outbox") and carries
// db.system.name, db.operation.name, db.collection.name and
// db.query.summary: never the statement's text or its arguments.
func StartDB(ctx context.Context, system attribute.KeyValue, query string) (context.Context, End) {
	if !trace.SpanFromContext(ctx).IsRecording() {
		return ctx, noEnd
	}
	op, table := Summarize(query)
	summary := op
	if table != "" {
		summary += " " + table
	}
	attrs := []attribute.KeyValue{system, semconv.DBOperationName(op), semconv.DBQuerySummary(summary)}
	if table != "" {
		attrs = append(attrs, semconv.DBCollectionName(table))
	}
	return startClient(ctx, summary, attrs)
}

// StartClient starts a client span named name with attrs as a child of the
// span in ctx, only when that span is recording (like StartDB).
func StartClient(ctx context.Context, name string, attrs ...attribute.KeyValue) (context.Context, End) {
	if !trace.SpanFromContext(ctx).IsRecording() {
		return ctx, noEnd
	}
	return startClient(ctx, name, attrs)
}

func startClient(ctx context.Context, name string, attrs []attribute.KeyValue) (context.Context, End) {
	ctx, span := Tracer().Start(ctx, name, trace.WithSpanKind(trace.SpanKindClient), trace.WithAttributes(attrs...))
	return ctx, func(err error) {
		if err != nil {
			span.SetStatus(codes.Error, "")
			span.SetAttributes(semconv.ErrorTypeKey.String(errorType(err)))
		}
		span.End()
	}
}

// errorType is a bounded description of err for error.type: its Go type,
// never its message (which may quote values).
func errorType(err error) string {
	s := strings.TrimPrefix(strings.TrimPrefix(typeName(err), "*"), "&")
	if s == "" {
		return "_OTHER"
	}
	return s
}

// Summarize returns the operation (first keyword, upper-cased: SELECT,
// INSERT, WITH, …) and the first table the statement names after FROM,
// INTO, UPDATE or JOIN (lower-cased; "" when none is found). It reads only
// keywords and identifiers, so values in the text never come out.
func Summarize(query string) (op, table string) {
	words := strings.Fields(query)
	for i, w := range words {
		if strings.HasPrefix(w, "--") {
			continue
		}
		if op == "" {
			op = strings.ToUpper(strings.Trim(w, "(;"))
			if op == "WITH" {
				// Name the statement after the main verb of a CTE's body.
				for _, x := range words[i+1:] {
					if u := strings.ToUpper(x); u == "SELECT" || u == "INSERT" || u == "UPDATE" || u == "DELETE" {
						op = "WITH " + u
						break
					}
				}
			}
			if op == "UPDATE" && i+1 < len(words) {
				return op, identifier(words[i+1])
			}
			continue
		}
		switch strings.ToUpper(w) {
		case "FROM", "INTO", "UPDATE", "JOIN":
			if i+1 < len(words) {
				if t := identifier(words[i+1]); t != "" {
					return op, t
				}
			}
		}
	}
	return op, ""
}

// identifier is w when it is a plain (optionally schema-qualified) SQL
// identifier, lower-cased; "" otherwise (a sub-select, a placeholder).
func identifier(w string) string {
	w = strings.TrimRight(w, ",;()")
	if w == "" {
		return ""
	}
	for _, r := range w {
		if !(r == '_' || r == '.' || r == '"' || (r >= 'a' && r <= 'z') || (r >= 'A' && r <= 'Z') || (r >= '0' && r <= '9')) {
			return ""
		}
	}
	if w[0] >= '0' && w[0] <= '9' {
		return ""
	}
	return strings.ToLower(strings.Trim(w, `"`))
}

func typeName(err error) string { return fmt.Sprintf("%T", err) }
