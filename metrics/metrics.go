// Package metrics is heed's Prometheus metrics, on a registry of their own
// (never the global default). What the database holds (occurrences and
// deliveries by state, pauses, the card queue) and what the engine knows
// (chats heard, tripwire feeds) is read when scraped, one cheap query
// each; what happens (publishes, dispatch lag, rate-limit waits) is counted
// as it happens.
package metrics

import (
	"context"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/heed-dev/heed/approvals"
)

// Snapshot is what the collector reads at scrape time.
type Snapshot struct {
	Occurrences  map[string]int    // by state
	Deliveries   map[[2]string]int // by {state, target}
	PausesActive int
	CardQueue    int
	Chats        map[string]bool // chat → heard
	FeedFailures map[string]int  // tripwire feed → consecutive failed fetches
	// SourceFeedFailures: feed posts come from → consecutive failed fetches
	SourceFeedFailures map[string]int
}

// Source reads a snapshot; ctx bounds it.
type Source func(ctx context.Context) (Snapshot, error)

// Metrics are heed's metrics and their registry.
type Metrics struct {
	Registry *prometheus.Registry

	dispatchLag    prometheus.Histogram
	publishSeconds *prometheus.HistogramVec
	publishErrors  *prometheus.CounterVec
	limitWaits     *prometheus.CounterVec
	limitSeconds   *prometheus.CounterVec
}

// New builds the metrics on a new registry, with the Go runtime's and the
// process's own metrics.
func New() *Metrics {
	m := &Metrics{
		Registry: prometheus.NewRegistry(),
		dispatchLag: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "heed_dispatch_lag_seconds",
			Help:    "How late after its scheduled time a delivery was claimed for publishing.",
			Buckets: []float64{0.1, 0.5, 1, 2, 5, 10, 30, 60, 120, 300, 600},
		}),
		publishSeconds: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "heed_publish_duration_seconds",
			Help:    "How long a publish call to a target took, by target and outcome.",
			Buckets: prometheus.DefBuckets,
		}, []string{"target", "outcome"}),
		publishErrors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "heed_publish_errors_total",
			Help: "Publish calls that did not publish, by target and kind (retryable, permanent, ambiguous, withheld).",
		}, []string{"target", "kind"}),
		limitWaits: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "heed_rate_limit_waits_total",
			Help: "Waits a chat or a target asked for with its rate limit (HTTP 429), by scope (chat or target) and name.",
		}, []string{"scope", "name"}),
		limitSeconds: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "heed_rate_limit_wait_seconds_total",
			Help: "Seconds of waiting a chat or a target asked for with its rate limit, by scope and name.",
		}, []string{"scope", "name"}),
	}
	m.Registry.MustRegister(m.dispatchLag, m.publishSeconds, m.publishErrors, m.limitWaits, m.limitSeconds,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

// Read has src read at every scrape, for the gauges of the database and
// the engine. Call it once.
func (m *Metrics) Read(src Source) { m.Registry.MustRegister(&scraped{src: src}) }

// Handler serves the registry in the Prometheus exposition format.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.Registry, promhttp.HandlerOpts{Registry: m.Registry})
}

// Claimed implements dispatch.Observer.
func (m *Metrics) Claimed(target string, lag time.Duration) { m.dispatchLag.Observe(lag.Seconds()) }

// Published implements dispatch.Observer.
func (m *Metrics) Published(target string, took time.Duration, kind approvals.OutcomeKind) {
	m.publishSeconds.WithLabelValues(target, string(kind)).Observe(took.Seconds())
	if kind != approvals.OutcomeOK {
		m.publishErrors.WithLabelValues(target, string(kind)).Inc()
	}
}

// RateLimited implements dispatch.Observer: a target's 429.
func (m *Metrics) RateLimited(target string, wait time.Duration) { m.limited("target", target, wait) }

// ChatRateLimited counts a chat's rate-limit wait.
func (m *Metrics) ChatRateLimited(chat string, wait time.Duration) { m.limited("chat", chat, wait) }

func (m *Metrics) limited(scope, name string, wait time.Duration) {
	m.limitWaits.WithLabelValues(scope, name).Inc()
	m.limitSeconds.WithLabelValues(scope, name).Add(wait.Seconds())
}

var (
	occurrencesDesc = prometheus.NewDesc("heed_occurrences", "Occurrences in the database, by state.", []string{"state"}, nil)
	deliveriesDesc  = prometheus.NewDesc("heed_deliveries", "Deliveries (occurrence × target) in the database, by state and target.", []string{"state", "target"}, nil)
	pausesDesc      = prometheus.NewDesc("heed_pauses_active", "Pauses in force (of everything or of one target).", nil, nil)
	cardQueueDesc   = prometheus.NewDesc("heed_card_render_queue", "Occurrences whose card waits to be rendered in chat.", nil, nil)
	chatHeardDesc   = prometheus.NewDesc("heed_chat_heard", "1 when the chat is heard, 0 when it is deaf (publishing holds).", []string{"chat"}, nil)
	feedFailsDesc   = prometheus.NewDesc("heed_tripwire_feed_failures", "Consecutive failed fetches of a news tripwire feed (0 once one succeeds).", []string{"feed"}, nil)
	sourceFailsDesc = prometheus.NewDesc("heed_feed_failures", "Consecutive failed fetches of a feed posts come from (0 once one succeeds).", []string{"feed"}, nil)
	scrapeDesc      = prometheus.NewDesc("heed_scrape_error", "1 when the database could not be read for this scrape.", nil, nil)
)

// scraped reads the snapshot when scraped.
type scraped struct{ src Source }

func (s *scraped) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{occurrencesDesc, deliveriesDesc, pausesDesc, cardQueueDesc, chatHeardDesc, feedFailsDesc, sourceFailsDesc, scrapeDesc} {
		ch <- d
	}
}

func (s *scraped) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	snap, err := s.src(ctx)
	failed := 0.0
	if err != nil {
		failed = 1
	}
	ch <- prometheus.MustNewConstMetric(scrapeDesc, prometheus.GaugeValue, failed)
	for state, n := range snap.Occurrences {
		ch <- prometheus.MustNewConstMetric(occurrencesDesc, prometheus.GaugeValue, float64(n), state)
	}
	for k, n := range snap.Deliveries {
		ch <- prometheus.MustNewConstMetric(deliveriesDesc, prometheus.GaugeValue, float64(n), k[0], k[1])
	}
	if err == nil {
		ch <- prometheus.MustNewConstMetric(pausesDesc, prometheus.GaugeValue, float64(snap.PausesActive))
		ch <- prometheus.MustNewConstMetric(cardQueueDesc, prometheus.GaugeValue, float64(snap.CardQueue))
	}
	for chat, heard := range snap.Chats {
		v := 0.0
		if heard {
			v = 1
		}
		ch <- prometheus.MustNewConstMetric(chatHeardDesc, prometheus.GaugeValue, v, chat)
	}
	for feed, n := range snap.FeedFailures {
		ch <- prometheus.MustNewConstMetric(feedFailsDesc, prometheus.GaugeValue, float64(n), feed)
	}
	for feed, n := range snap.SourceFeedFailures {
		ch <- prometheus.MustNewConstMetric(sourceFailsDesc, prometheus.GaugeValue, float64(n), feed)
	}
}
