package web

import (
	"fmt"
	"net/http"
	"slices"
	"time"

	"github.com/regcase/regcase/internal/regcase"
)

// The supervisor dashboard: four server-rendered SVG charts, each with its
// numbers in a table (the accessible form of the chart; the SVG is
// aria-hidden). The aggregates come from the database (Store.Dashboard),
// never from loading cases.

// Chart geometry (SVG user units).
const (
	chartW    = 640
	barChartH = 200
	chartPadL = 40
	chartPadB = 28
)

// svgRect is one bar or bar segment.
type svgRect struct {
	X, Y, W, H float64
	Class      string
	Title      string // tooltip (<title>)
}

// svgText is a label.
type svgText struct {
	X, Y   float64
	Text   string
	Anchor string
}

// chart is one SVG with its bars and labels.
type chart struct {
	W, H   int
	Rects  []svgRect
	Labels []svgText
}

// backlogRow is one state of the backlog table.
type backlogRow struct {
	Status string
	Counts []int64 // per priority, as dashboardView.Priorities
	Total  int64
}

// ageRow is one ageing bucket.
type ageRow struct {
	Label string
	Count int64
}

// complianceRow is one clock's outcomes.
type complianceRow struct {
	Name string
	regcase.Compliance
	OnTimePct string // met on time among those decided (met or overdue)
}

// weekRow is one week of intake.
type weekRow struct {
	Start time.Time
	Count int64
}

type dashboardView struct {
	base
	Now        time.Time
	OpenCases  int64
	Priorities []regcase.Priority
	Backlog    []backlogRow
	BacklogSVG chart
	Ageing     []ageRow
	AgeingSVG  chart
	Compliance []complianceRow
	ComplSVG   chart
	Intake     []weekRow
	IntakeSVG  chart
	Render     string // server time to compute the page
}

func (c *Console) dashboard(w http.ResponseWriter, r *http.Request, s *session) {
	if !c.allowed(w, r, s, regcase.ActDashboardRead) {
		return
	}
	start := time.Now()
	d, q, err := c.svc.Dashboard(r.Context(), s.actor)
	if err != nil {
		c.fail(w, r, s, err)
		return
	}
	v := buildDashboard(d, q, c.svc.Lifecycle())
	v.base = officerBase(s, "Dashboard")
	v.Render = time.Since(start).Round(time.Millisecond).String()
	c.render(w, r, http.StatusOK, "dashboard.html", v)
}

// buildDashboard turns the aggregates into tables and charts.
func buildDashboard(d *regcase.Dashboard, q regcase.DashboardQuery, lc *regcase.Lifecycle) *dashboardView {
	v := &dashboardView{Now: q.Now, OpenCases: d.OpenCases, Priorities: slices.Clone(regcase.Priorities)}
	slices.Reverse(v.Priorities) // critical first

	// Backlog: states in lifecycle order, then any other state found.
	byState := map[string]*backlogRow{}
	var order []string
	for _, st := range lc.StateNames() {
		if !lc.IsFinal(st) {
			order = append(order, st)
		}
	}
	for _, b := range d.Backlog {
		if !slices.Contains(order, b.Status) {
			order = append(order, b.Status)
		}
	}
	for _, st := range order {
		byState[st] = &backlogRow{Status: st, Counts: make([]int64, len(v.Priorities))}
	}
	for _, b := range d.Backlog {
		row := byState[b.Status]
		if i := slices.Index(v.Priorities, b.Priority); i >= 0 {
			row.Counts[i] += b.Count
		}
		row.Total += b.Count
	}
	for _, st := range order {
		v.Backlog = append(v.Backlog, *byState[st])
	}
	v.BacklogSVG = backlogChart(v.Backlog, v.Priorities)

	// Ageing.
	labels := ageLabels(q.AgeBounds)
	for i, n := range d.Ageing {
		v.Ageing = append(v.Ageing, ageRow{Label: labels[i], Count: n})
	}
	ageBars := make([]labelled, len(v.Ageing))
	for i, a := range v.Ageing {
		ageBars[i] = labelled{a.Label, a.Count}
	}
	v.AgeingSVG = columnChart(ageBars, "bar-age")

	// Compliance.
	v.Compliance = []complianceRow{compliance("SLA", d.SLA), compliance("Acknowledge (statutory)", d.Acknowledge),
		compliance("Feedback (statutory)", d.Feedback)}
	v.ComplSVG = complianceChart(v.Compliance)

	// Intake per week.
	weeks := make([]labelled, len(d.Intake))
	for i, n := range d.Intake {
		ws := d.WeekStart.AddDate(0, 0, 7*i)
		v.Intake = append(v.Intake, weekRow{Start: ws, Count: n})
		weeks[i] = labelled{ws.Format("2 Jan"), n}
	}
	v.IntakeSVG = columnChart(weeks, "bar-intake")
	return v
}

func compliance(name string, c regcase.Compliance) complianceRow {
	row := complianceRow{Name: name, Compliance: c, OnTimePct: "–"}
	if decided := c.MetOnTime + c.MetLate + c.Overdue; decided > 0 {
		row.OnTimePct = fmt.Sprintf("%.1f %%", 100*float64(c.MetOnTime)/float64(decided))
	}
	return row
}

func ageLabels(bounds []time.Duration) []string {
	days := func(d time.Duration) int { return int(d / (24 * time.Hour)) }
	out := make([]string, 0, len(bounds)+1)
	lo := 0
	for _, b := range bounds {
		out = append(out, fmt.Sprintf("%d–%d days", lo, days(b)))
		lo = days(b)
	}
	return append(out, fmt.Sprintf("over %d days", lo))
}

type labelled struct {
	Label string
	N     int64
}

// columnChart is a vertical bar chart with one labelled column per value.
func columnChart(vals []labelled, class string) chart {
	ch := chart{W: chartW, H: barChartH + chartPadB}
	var top int64 = 1
	for _, v := range vals {
		top = max(top, v.N)
	}
	plotW := float64(chartW - chartPadL)
	slot := plotW / float64(max(len(vals), 1))
	ch.Labels = append(ch.Labels, svgText{X: chartPadL - 6, Y: 12, Text: fmt.Sprint(top), Anchor: "end"},
		svgText{X: chartPadL - 6, Y: barChartH, Text: "0", Anchor: "end"})
	for i, v := range vals {
		h := float64(barChartH-16) * float64(v.N) / float64(top)
		x := chartPadL + float64(i)*slot + slot*0.15
		ch.Rects = append(ch.Rects, svgRect{X: x, Y: barChartH - h, W: slot * 0.7, H: h, Class: class, Title: fmt.Sprintf("%s: %d", v.Label, v.N)})
		ch.Labels = append(ch.Labels, svgText{X: x + slot*0.35, Y: barChartH + 18, Text: v.Label, Anchor: "middle"})
		if v.N > 0 {
			ch.Labels = append(ch.Labels, svgText{X: x + slot*0.35, Y: barChartH - h - 4, Text: fmt.Sprint(v.N), Anchor: "middle"})
		}
	}
	return ch
}

// backlogChart is one horizontal bar per state, split by priority.
func backlogChart(rows []backlogRow, prios []regcase.Priority) chart {
	const rowH, labelW = 28, 150
	ch := chart{W: chartW, H: max(len(rows), 1)*rowH + 8}
	var top int64 = 1
	for _, r := range rows {
		top = max(top, r.Total)
	}
	plotW := float64(chartW - labelW - 50)
	for i, r := range rows {
		y := float64(i*rowH + 4)
		ch.Labels = append(ch.Labels, svgText{X: labelW - 8, Y: y + 15, Text: humanize(r.Status), Anchor: "end"})
		x := float64(labelW)
		for j, n := range r.Counts {
			if n == 0 {
				continue
			}
			wd := plotW * float64(n) / float64(top)
			ch.Rects = append(ch.Rects, svgRect{X: x, Y: y, W: wd, H: rowH - 8, Class: "prio-fill-" + string(prios[j]),
				Title: fmt.Sprintf("%s, %s: %d", humanize(r.Status), prios[j], n)})
			x += wd
		}
		ch.Labels = append(ch.Labels, svgText{X: x + 6, Y: y + 15, Text: fmt.Sprint(r.Total), Anchor: "start"})
	}
	return ch
}

// complianceChart is one 100 % bar per clock: on time, late, overdue, pending.
func complianceChart(rows []complianceRow) chart {
	const rowH, labelW = 32, 190
	ch := chart{W: chartW, H: len(rows)*rowH + 8}
	plotW := float64(chartW - labelW - 10)
	for i, r := range rows {
		y := float64(i*rowH + 4)
		ch.Labels = append(ch.Labels, svgText{X: labelW - 8, Y: y + 17, Text: r.Name, Anchor: "end"})
		parts := []struct {
			n     int64
			class string
			name  string
		}{{r.MetOnTime, "c-ontime", "met on time"}, {r.MetLate, "c-late", "met late"}, {r.Overdue, "c-overdue", "overdue"}, {r.Pending, "c-pending", "pending"}}
		var total int64
		for _, p := range parts {
			total += p.n
		}
		if total == 0 {
			continue
		}
		x := float64(labelW)
		for _, p := range parts {
			if p.n == 0 {
				continue
			}
			wd := plotW * float64(p.n) / float64(total)
			ch.Rects = append(ch.Rects, svgRect{X: x, Y: y, W: wd, H: rowH - 10, Class: p.class, Title: fmt.Sprintf("%s: %d %s", r.Name, p.n, p.name)})
			x += wd
		}
	}
	return ch
}
