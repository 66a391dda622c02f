package app

import "github.com/prometheus/client_golang/prometheus"

// poolCollector exports pgxpool statistics.
type poolCollector struct {
	db                               *database
	total, idle, acquired, max, wait *prometheus.Desc
}

func newPoolCollector(db *database) *poolCollector {
	d := func(name, help string) *prometheus.Desc { return prometheus.NewDesc(name, help, nil, nil) }
	return &poolCollector{db: db,
		total:    d("regcase_db_pool_connections", "Open connections in the pool."),
		idle:     d("regcase_db_pool_idle_connections", "Idle connections in the pool."),
		acquired: d("regcase_db_pool_acquired_connections", "Connections in use."),
		max:      d("regcase_db_pool_max_connections", "Configured pool size."),
		wait:     d("regcase_db_pool_wait_seconds_total", "Time spent waiting for a connection."),
	}
}

func (p *poolCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- p.total
	ch <- p.idle
	ch <- p.acquired
	ch <- p.max
	ch <- p.wait
}

func (p *poolCollector) Collect(ch chan<- prometheus.Metric) {
	s := p.db.pg.Pool().Stat()
	ch <- prometheus.MustNewConstMetric(p.total, prometheus.GaugeValue, float64(s.TotalConns()))
	ch <- prometheus.MustNewConstMetric(p.idle, prometheus.GaugeValue, float64(s.IdleConns()))
	ch <- prometheus.MustNewConstMetric(p.acquired, prometheus.GaugeValue, float64(s.AcquiredConns()))
	ch <- prometheus.MustNewConstMetric(p.max, prometheus.GaugeValue, float64(s.MaxConns()))
	ch <- prometheus.MustNewConstMetric(p.wait, prometheus.CounterValue, s.AcquireDuration().Seconds())
}
