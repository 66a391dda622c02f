package regcase

import (
	"testing"
	"time"
)

func TestParsePeriod(t *testing.T) {
	for in, want := range map[string]Period{"7d": {Days: 7}, "2w": {Days: 14}, "3mo": {Months: 3}, "1mo14d": {Months: 1, Days: 14}} {
		got, err := ParsePeriod(in)
		if err != nil || got != want {
			t.Errorf("ParsePeriod(%q) = %+v, %v; want %+v", in, got, err, want)
		}
		if back, _ := ParsePeriod(got.String()); back != got {
			t.Errorf("%q does not round-trip through String (%q)", in, got.String())
		}
	}
	for _, bad := range []string{"", "7", "d", "0d", "3y", "-1d", "999999d", "7d x"} {
		if _, err := ParsePeriod(bad); ErrorCodeOf(err) != EInvalid {
			t.Errorf("ParsePeriod(%q) = %v, want invalid", bad, err)
		}
	}
}

func TestParseDeadlinePolicy(t *testing.T) {
	cats := []string{"food_safety", "financial_conduct"}
	p, err := ParseDeadlinePolicy("feedback=2mo, warn=3d, financial_conduct.acknowledge=3d", cats)
	if err != nil {
		t.Fatal(err)
	}
	if p.Warn != 72*time.Hour || p.Default != (DeadlineTerms{Acknowledge: Period{Days: 7}, Feedback: Period{Months: 2}}) {
		t.Errorf("policy = %+v", p)
	}
	// A category inherits what it does not set, even a default given after it.
	if got := p.Terms("financial_conduct"); got != (DeadlineTerms{Acknowledge: Period{Days: 3}, Feedback: Period{Months: 2}}) {
		t.Errorf("financial_conduct terms = %+v", got)
	}
	if got := p.Terms("food_safety"); got != p.Default {
		t.Errorf("food_safety terms = %+v, want the default", got)
	}
	for _, bad := range []string{"acknowledge", "ack=7d", "unknown.feedback=1mo", "warn=1mo", "food_safety.warn=1d", "feedback=x"} {
		if _, err := ParseDeadlinePolicy(bad, cats); ErrorCodeOf(err) != EInvalid {
			t.Errorf("ParseDeadlinePolicy(%q) = %v, want invalid", bad, err)
		}
	}
	if d, err := ParseDeadlinePolicy("", cats); err != nil || d.Default != DefaultDeadlinePolicy().Default {
		t.Errorf("empty policy = %+v, %v; want the defaults", d, err)
	}
}

func TestDeadlineState(t *testing.T) {
	now := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	due := now.Add(time.Hour)
	past := now.Add(-time.Hour)
	late := now.Add(2 * time.Hour)
	for _, tc := range []struct {
		d    Deadline
		want string
	}{
		{Deadline{}, DeadlineNotTracked},
		{Deadline{DueAt: &due}, DeadlinePending},
		{Deadline{DueAt: &past}, DeadlineOverdue},
		{Deadline{DueAt: &due, MetAt: &now}, DeadlineMet},
		{Deadline{DueAt: &due, MetAt: &late}, DeadlineMetLate},
	} {
		if got := tc.d.State(now); got != tc.want {
			t.Errorf("State(%+v) = %s, want %s", tc.d, got, tc.want)
		}
	}
}
