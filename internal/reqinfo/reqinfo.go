// Package reqinfo is the one small record a request carries in its context
// for the request log: its id, route template, caller and client address.
// The outermost middleware (httpapi) puts it there, the layers that learn
// something fill it in (the route from the mux, the caller from the API's
// bearer token or the console's session), and the log line reads it when
// the request is done. One Info is allocated per request.
package reqinfo

import (
	"context"

	"github.com/regcase/regcase/internal/regcase"
)

// Info is what the request log needs of a request.
type Info struct {
	ID     string        // request id (X-Request-ID)
	Route  string        // route template, e.g. /v1/cases/{id}; "" until routed
	Actor  regcase.Actor // the caller; anonymous until authenticated
	Client string        // client address
}

type key struct{}

// With returns ctx carrying i.
func With(ctx context.Context, i *Info) context.Context { return context.WithValue(ctx, key{}, i) }

// From returns the Info of ctx, nil when there is none (a handler served
// without the API's middleware).
func From(ctx context.Context) *Info {
	i, _ := ctx.Value(key{}).(*Info)
	return i
}

// SetActor names the caller of the request in ctx, if it carries an Info.
func SetActor(ctx context.Context, id string, role regcase.Role) {
	if i := From(ctx); i != nil {
		i.Actor.ID, i.Actor.Role = id, role
	}
}
