// Command regcase is the Regulatory Case API Platform: one binary that runs
// the API, the worker, migrations and the admin commands.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"github.com/regcase/regcase/internal/app"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := app.Run(ctx, os.Args[1:], os.Getenv, os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}
