package sqlite

import (
	"log/slog"
	"sync"
	"time"

	"github.com/heed-dev/heed/approvals"
)

// Settings are how the domain services are set up. The services of one
// Service share them: a change reaches every one.
type Settings struct {
	Targets approvals.TargetCatalog
	// Policy returns the policy of a review room ("" is the default room).
	Policy func(room string) approvals.Policy
	// Timing, when set, checks an occurrence's time against the timing
	// safeguards (staffed hours, on duty, sensitive dates). Like Policy it
	// must answer from memory: it is called inside store transactions.
	Timing func(v approvals.View) approvals.TimingCheck
	// Derives is set in the daemon, the one process whose engine records
	// the chats' rosters and renders cards: only it stores the state
	// approvals.Decide derives (a cache; the claim never trusts it). A CLI
	// command or an import stores facts only.
	Derives bool
	// Window is how far ahead occurrences get a card (default 7 days).
	Window time.Duration
	// SeriesCards is how many upcoming occurrences of a recurring post
	// have a card at once, within Window (default 3).
	SeriesCards int
	Now         func() time.Time
	Log         *slog.Logger
}

// DefaultSeriesCards is Settings.SeriesCards when unset.
const DefaultSeriesCards = 3

// Service is the approval domain over a Store: one service per aggregate,
// sharing the store and the Settings.
type Service struct {
	*Settings
	Store      *Store
	Posts      *PostService
	Reviews    *ReviewService
	Pauses     *PauseService
	Deliveries *DeliveryService
	Audit      *AuditService
	Tokens     *TokenService
}

// PostService implements approvals.PostService.
type PostService struct{ *core }

// ReviewService implements approvals.ReviewService.
type ReviewService struct{ *core }

// PauseService implements approvals.PauseService.
type PauseService struct{ *core }

// DeliveryService implements approvals.DeliveryService.
type DeliveryService struct{ *core }

// AuditService implements approvals.AuditService.
type AuditService struct{ *core }

var (
	_ approvals.PostService     = (*PostService)(nil)
	_ approvals.ReviewService   = (*ReviewService)(nil)
	_ approvals.PauseService    = (*PauseService)(nil)
	_ approvals.DeliveryService = (*DeliveryService)(nil)
	_ approvals.AuditService    = (*AuditService)(nil)
)

// core is what the services share: the store, the settings, and the
// payload validation results.
type core struct {
	store    *Store
	settings *Settings

	probMu sync.Mutex
	probs  map[string][]string // target and payload hash → what its network refuses
}

// NewService returns a service with defaults for what is unset.
func NewService(st *Store, targets approvals.TargetCatalog, policy func(room string) approvals.Policy) *Service {
	set := &Settings{Targets: targets, Policy: policy, Window: 7 * 24 * time.Hour, SeriesCards: DefaultSeriesCards, Now: time.Now, Log: slog.Default()}
	c := &core{store: st, settings: set}
	return &Service{Settings: set, Store: st,
		Posts: &PostService{c}, Reviews: &ReviewService{c}, Pauses: &PauseService{c}, Deliveries: &DeliveryService{c}, Audit: &AuditService{c}, Tokens: &TokenService{c}}
}

func (s *core) now() time.Time { return s.settings.Now().UTC() }

// maxProblems bounds the memory of validation results.
const maxProblems = 10_000

// problems says what the target's network would refuse in a payload. The
// answer depends only on the payload, whose hash names it, and on the
// publisher's configuration, which a process does not change: so each
// payload is validated once, when it is first stored or read, and a
// reaction or a claim never runs a publisher's Validate again.
func (s *core) problems(pl approvals.Payload, hash string) []string {
	key := pl.Target + "\x00" + hash
	s.probMu.Lock()
	probs, ok := s.probs[key]
	s.probMu.Unlock()
	if ok {
		return probs
	}
	probs = s.settings.Targets.Problems(pl)
	s.probMu.Lock()
	if s.probs == nil || len(s.probs) >= maxProblems {
		s.probs = map[string][]string{}
	}
	s.probs[key] = probs
	s.probMu.Unlock()
	return probs
}
