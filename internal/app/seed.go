package app

import (
	"context"
	"fmt"

	"github.com/regcase/regcase/internal/regcase"
)

// demoReports are the seed's fixtures. Their idempotency keys make the seed
// safe to run again: a second run replays instead of inserting.
var demoReports = []regcase.SubmitReport{
	{Channel: regcase.ChannelWeb, Category: "food_safety", Subject: regcase.Subject{Name: "Harbour Fish Market", RegistryID: "FBO-10442"},
		Description: "Fish displayed without ice at noon; strong smell near the counter.", Location: "Pier 3"},
	{Channel: regcase.ChannelPhone, Category: "environment", Subject: regcase.Subject{Name: "Northside Tannery"},
		Description: "Blue-tinted discharge into the creek behind the plant after 22:00."},
	{Channel: regcase.ChannelEmail, Category: "consumer_protection", Subject: regcase.Subject{Name: "QuickLoans Ltd", RegistryID: "FIN-7781"},
		Description: "Advertised 0% interest; contract says 39% APR in small print.",
		Reporter:    &regcase.Reporter{Name: "A. Reporter", Email: "reporter@example.org"}},
	{Channel: regcase.ChannelInspection, Category: "workplace_safety", Subject: regcase.Subject{Name: "Metro Scaffolding Co"},
		Description: "Inspection found missing guard rails on level 4."},
}

// seed loads demo data: reports, and a case triaged from the first one.
func (e *env) seed(ctx context.Context) error {
	if len(e.args) > 0 {
		return &usageError{msg: "seed takes no arguments"}
	}
	_, db, svc, _, err := e.adminSession(ctx, "seed")
	if err != nil {
		return err
	}
	defer db.Close()
	actor := regcase.SystemActor("seed")
	actor.Role = regcase.RoleSupervisor
	created := 0
	for i, in := range demoReports {
		sub, err := svc.Submit(ctx, actor, in, fmt.Sprintf("regcase-seed-%d", i+1))
		if err != nil {
			return fmt.Errorf("seed report %d: %w", i+1, err)
		}
		if !sub.Replayed {
			created++
		}
		if i == 0 && sub.Report.Status == regcase.ReportReceived {
			if _, _, err := svc.Triage(ctx, actor, sub.Report.ID, regcase.TriageInput{NewCase: &regcase.NewCase{
				Title: "Cold-chain failures at Harbour Fish Market", Priority: regcase.PriorityHigh}}); err != nil {
				return fmt.Errorf("seed case: %w", err)
			}
		}
	}
	fmt.Fprintf(e.stdout, "seed: %d reports created, %d already present\n", created, len(demoReports)-created)
	return nil
}
