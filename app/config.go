package app

import (
	"cmp"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/goccy/go-yaml"
	"github.com/goccy/go-yaml/ast"
	"github.com/goccy/go-yaml/parser"
	"github.com/goccy/go-yaml/token"

	"github.com/heed-dev/heed/approvals"
	"github.com/heed-dev/heed/approvals/timing"
	"github.com/heed-dev/heed/bot"
	"github.com/heed-dev/heed/feeds"
	"github.com/heed-dev/heed/internal/feedfetch"
	"github.com/heed-dev/heed/sqlite"
	"github.com/heed-dev/heed/tripwire"
)

// Config is heed's configuration file. Every field has a default, so heed
// runs with no file at all: heed.db, the console chat, the log target.
type Config struct {
	// Database is the path of a SQLite file (default heed.db), or a
	// postgres:// URL for PostgreSQL. HEED_DATABASE_URL, when set,
	// overrides it.
	Database string `yaml:"database"`
	// MediaDir is where images are kept (default: beside the SQLite file,
	// heed.db-media; for PostgreSQL, heed-media).
	MediaDir string `yaml:"media_dir"`
	// Zone is the team's time zone, for cards and for times typed without one.
	Zone string `yaml:"zone"`
	Log  struct {
		Format string `yaml:"format"` // text (default) or json
		Level  string `yaml:"level"`  // debug, info (default), warn, error
	} `yaml:"log"`
	ReviewWindow Duration `yaml:"review_window"` // how far ahead cards appear (default 168h)
	SeriesCards  int      `yaml:"series_cards"`  // upcoming occurrences of a recurring post with a card (default 3)
	DeafAfter    Duration `yaml:"deaf_after"`    // publishing holds when the chat is silent this long (default 2m)
	LateGrace    Duration `yaml:"late_grace"`    // how late after its time a post may still go out; later, it is held (default 10m)
	Poll         Duration `yaml:"poll"`          // how often the daemon looks for changes from the CLI (default 500ms)
	MaxAttempts  int      `yaml:"max_attempts"`  // per target for retryable errors (default 5)
	// ShutdownGrace is how long publish calls under way may still finish
	// when heed is stopped (default 30s); later, their outcome is unknown.
	ShutdownGrace Duration `yaml:"shutdown_grace"`
	Workers       int      `yaml:"workers"` // publishes at once (default 32)
	// ChatLease is how long a replica's hold on a chat's connection lasts
	// unless renewed, when several heed runs share a PostgreSQL database
	// (default 7s): it is renewed every quarter of it, and a dead holder's
	// chat is taken over within 1¼ of it.
	ChatLease Duration `yaml:"chat_lease"`

	// Timing safeguards (README "Timing safeguards"). LastCall is the
	// default for rooms that set none: 15m when unset, 0 sends none.
	LastCall *Duration `yaml:"last_call"`
	// SensitiveDates is the team's own file of sensitive days, added to
	// the shipped list.
	SensitiveDates string `yaml:"sensitive_dates"`
	// AudienceCountries are the countries the team's targets reach unless a
	// target says otherwise; empty: derived from the audience zones.
	AudienceCountries []string       `yaml:"audience_countries"`
	Tripwire          TripwireConfig `yaml:"tripwire"`
	// Sources are where posts come from besides people: feeds.
	Sources SourcesConfig `yaml:"sources"`
	// HTTP is heed's one HTTP listener: health, readiness, metrics, and a
	// chat's webhook endpoint (Slack's Events API). Off unless listen is set.
	HTTP HTTPConfig `yaml:"http"`
	// Retention is how long the tables that only grow keep their rows.
	Retention RetentionConfig `yaml:"retention"`

	// Chats and Targets are keyed by name; each has a kind and the kind's
	// own settings.
	Chats   map[string]map[string]any `yaml:"chats"`
	Rooms   []RoomConfig              `yaml:"rooms"`
	Targets map[string]map[string]any `yaml:"targets"`
	// People maps each person to their identities: the name they use on
	// the command line, their Slack user id, their Matrix user id.
	People map[string][]string `yaml:"people"`
	people approvals.People

	// secrets are the values ${ENV} expanded to; no error may show them.
	secrets []string
	// dir is the config file's directory: relative paths are read from it.
	dir    string
	guards *timing.Safeguards
}

// RoomConfig is one review room and its policy.
type RoomConfig struct {
	Name             string   `yaml:"name"`
	Chat             string   `yaml:"chat"` // the chat's name (default: the only chat)
	ID               string   `yaml:"id"`   // room/channel id in that chat
	Approvers        []string `yaml:"approvers"`
	Everyone         bool     `yaml:"everyone"` // every member may approve (except the author, unless allowed)
	Required         int      `yaml:"required"`
	AuthorMayApprove bool     `yaml:"author_may_approve"`
	ApproveEmoji     []string `yaml:"approve_emoji"`
	RejectEmoji      []string `yaml:"reject_emoji"`

	// Timing safeguards of this room.
	Zone              string    `yaml:"zone"`          // the room's zone (default: the team's)
	LastCall          *Duration `yaml:"last_call"`     // overrides the top-level last_call
	StaffedHours      []string  `yaml:"staffed_hours"` // e.g. ["Mon-Fri 09:00-18:00"]; none: always staffed
	Holidays          []string  `yaml:"holidays"`      // e.g. [DE, DE-BY]: unstaffed all day
	OnDuty            Duration  `yaml:"on_duty"`       // hold unless an approver was seen this long before
	SensitiveRequired int       `yaml:"sensitive_required"`

	// Deadlines that chase approvers: an occurrence not approved
	// approve_by before its time gets a reminder in its card's thread,
	// repeated every remind_every; escalate_to is mentioned at the last.
	ApproveBy   DurationText `yaml:"approve_by"`
	RemindEvery DurationText `yaml:"remind_every"`
	EscalateTo  Escalation   `yaml:"escalate_to"`
}

// DurationText is a duration as written ("2h"), read when the
// configuration is checked, so that a bad one is reported with its room
// and field.
type DurationText string

// UnmarshalYAML takes any scalar as written.
func (d *DurationText) UnmarshalYAML(b []byte) error {
	var v any
	if err := yaml.Unmarshal(b, &v); err != nil {
		return err
	}
	switch v.(type) {
	case map[string]any, []any:
		return errors.New("give a duration such as 30m or 2h")
	case nil:
		*d = ""
	default:
		*d = DurationText(fmt.Sprint(v))
	}
	return nil
}

// Duration parses d; "" and "0" are zero.
func (d DurationText) Duration() (time.Duration, error) {
	s := strings.TrimSpace(string(d))
	if s == "" || s == "0" {
		return 0, nil
	}
	v, err := time.ParseDuration(s)
	if err != nil {
		return 0, fmt.Errorf("%q is not a duration: use forms such as 30m or 2h", s)
	}
	return v, nil
}

// Escalation is a room's escalate_to: user ids, people, a Slack user group
// id, or a Matrix power level (a number).
type Escalation []string

// UnmarshalYAML accepts a list of strings and numbers (a power level).
func (e *Escalation) UnmarshalYAML(b []byte) error {
	var raw []any
	if err := yaml.Unmarshal(b, &raw); err != nil {
		return errors.New("escalate_to: give a list, such as [U0123ABC] or [\"@carol:example.org\", 100]")
	}
	out := make(Escalation, 0, len(raw))
	for _, v := range raw {
		switch v := v.(type) {
		case string:
			out = append(out, strings.TrimSpace(v))
		case int, int64, uint64:
			out = append(out, fmt.Sprint(v))
		default:
			return fmt.Errorf("escalate_to: %v is neither a name nor a power level", v)
		}
	}
	*e = out
	return nil
}

// MinRemindEvery is the shortest remind_every: reminders more often than
// this would drown the thread they are meant to draw people to.
const MinRemindEvery = 5 * time.Minute

var (
	matrixUserID = regexp.MustCompile(`^@[a-z0-9._=\-/+]+:[A-Za-z0-9.\-]+(:[0-9]+)?$`)
	slackUserID  = regexp.MustCompile(`^[UW][A-Z0-9]{2,}$`)
	slackGroupID = regexp.MustCompile(`^S[A-Z0-9]{2,}$`)
	powerLevel   = regexp.MustCompile(`^-?[0-9]+$`)
)

// checkDeadlines checks a room's approve_by, remind_every and escalate_to
// for the kind of its chat; where names the room.
func (c *Config) checkDeadlines(where string, r RoomConfig) error {
	by, err := r.ApproveBy.Duration()
	if err != nil {
		return fmt.Errorf("%s approve_by: %v", where, err)
	}
	every, err := r.RemindEvery.Duration()
	if err != nil {
		return fmt.Errorf("%s remind_every: %v", where, err)
	}
	if by < 0 {
		return fmt.Errorf("%s approve_by: %s is before the time is even set: give how long before its time a post should be approved, such as 2h, or 0 for no reminders", where, by)
	}
	if every < 0 || (every > 0 && every < MinRemindEvery) {
		return fmt.Errorf("%s remind_every: %s is too often: give %s or more, such as 30m, or 0 for one reminder", where, every, MinRemindEvery)
	}
	if by == 0 && every > 0 {
		return fmt.Errorf("%s remind_every: reminders start at approve_by, which is not set: set approve_by too, such as 2h", where)
	}
	if by == 0 && len(r.EscalateTo) > 0 {
		return fmt.Errorf("%s escalate_to: escalation comes with the last reminder, and approve_by is not set: set approve_by too, such as 2h", where)
	}
	kind := KindOf(c.Chats[r.Chat])
	for _, e := range r.EscalateTo {
		if e == "" {
			return fmt.Errorf("%s escalate_to: an entry is empty", where)
		}
		if c.people.Known(e) && !powerLevel.MatchString(e) {
			continue
		}
		var ok bool
		var want string
		switch kind {
		case "slack":
			ok, want = slackUserID.MatchString(e) || slackGroupID.MatchString(e), "a Slack user id (U0123ABC), a user group id (S0123ABC) or one of the people"
		case "matrix":
			ok, want = matrixUserID.MatchString(e) || powerLevel.MatchString(e), "a Matrix user id (@carol:example.org), a power level (such as 100) or one of the people"
		case "console":
			ok, want = !powerLevel.MatchString(e) && !strings.ContainsAny(e, " \t,"), "a name as people type it in the console, or one of the people"
		default:
			ok = true
		}
		if !ok {
			return fmt.Errorf("%s escalate_to: %q is not %s", where, e, want)
		}
	}
	return nil
}

// HTTPConfig is heed's HTTP listener.
type HTTPConfig struct {
	// Listen is the address, such as 127.0.0.1:8080; empty: no listener.
	Listen string `yaml:"listen"`
	// MetricsAllow are the networks /metrics answers (CIDR, or one
	// address); default loopback only.
	MetricsAllow []string `yaml:"metrics_allow"`
	// MetricsUser and MetricsPassword, when set, make /metrics ask for
	// basic auth as well; the password is written as ${ENV}.
	MetricsUser     string `yaml:"metrics_user"`
	MetricsPassword string `yaml:"metrics_password"`
	// ReadyDispatchWithin: /readyz fails when the dispatcher has not
	// completed a cycle for this long (default 2m).
	ReadyDispatchWithin Duration `yaml:"ready_dispatch_within"`
}

// RetentionConfig is how long heed keeps what it trims; 0 keeps all.
type RetentionConfig struct {
	SeenEvents *Duration `yaml:"seen_events"` // chats' event ids, to drop redelivered events (default 720h)
	Presence   *Duration `yaml:"presence"`    // when each person was last seen in a review room (default 2160h)
	Audit      *Duration `yaml:"audit"`       // the audit log (default 0: kept whole)
	// IdempotencyKeys: the HTTP API's Idempotency-Keys (default 168h).
	IdempotencyKeys *Duration `yaml:"idempotency_keys"`
	Interval        Duration  `yaml:"interval"` // between trimming passes (default 1h)
	Batch           int       `yaml:"batch"`    // rows deleted per table per pass (default 1000)
}

// Retention defaults.
const (
	DefaultSeenEventsRetention  = 30 * 24 * time.Hour
	DefaultPresenceRetention    = 90 * 24 * time.Hour
	DefaultIdempotencyRetention = 7 * 24 * time.Hour
	minSeenEventsRetention      = 24 * time.Hour
	minIdempotencyRetention     = 24 * time.Hour
)

// RetentionSettings are the retention settings with their defaults.
func (c *Config) RetentionSettings() (keep sqlite.Retention, interval time.Duration) {
	r := c.Retention
	or := func(d *Duration, def time.Duration) time.Duration {
		if d == nil {
			return def
		}
		return time.Duration(*d)
	}
	keep = sqlite.Retention{SeenEvents: or(r.SeenEvents, DefaultSeenEventsRetention), Presence: or(r.Presence, DefaultPresenceRetention),
		Audit: or(r.Audit, 0), IdempotencyKeys: or(r.IdempotencyKeys, DefaultIdempotencyRetention), Batch: r.Batch}
	if keep.Batch == 0 {
		keep.Batch = 1000
	}
	return keep, r.Interval.Or(time.Hour)
}

// checkRetention refuses a retention that would lose what heed still
// needs: event ids kept less than a day (a chat redelivers within hours),
// presence kept less than a room's on_duty.
func (c *Config) checkRetention() error {
	r := c.Retention
	for _, d := range []struct {
		key string
		v   *Duration
	}{{"seen_events", r.SeenEvents}, {"presence", r.Presence}, {"audit", r.Audit}, {"idempotency_keys", r.IdempotencyKeys}} {
		if d.v != nil && *d.v < 0 {
			return fmt.Errorf("retention.%s: give a duration such as 720h, or 0 to keep everything", d.key)
		}
	}
	if r.Interval < 0 || r.Batch < 0 {
		return errors.New("retention: interval and batch must be positive")
	}
	keep, _ := c.RetentionSettings()
	if keep.SeenEvents > 0 && keep.SeenEvents < minSeenEventsRetention {
		return fmt.Errorf("retention.seen_events %s: keep event ids at least 24h, since chats redeliver events within hours; or 0 to keep them all", keep.SeenEvents)
	}
	if keep.IdempotencyKeys > 0 && keep.IdempotencyKeys < minIdempotencyRetention {
		return fmt.Errorf("retention.idempotency_keys %s: keep them at least 24h, since a client retries a request within hours and must get the post it made; or 0 to keep them all", keep.IdempotencyKeys)
	}
	if keep.Presence > 0 {
		for i, room := range c.Rooms {
			if d := time.Duration(room.OnDuty); d > keep.Presence {
				return fmt.Errorf("retention.presence %s is shorter than rooms[%d] (%s) on_duty %s: the on-duty check would forget who was seen; keep presence at least %s", keep.Presence, i, room.Name, d, d)
			}
		}
	}
	return nil
}

// reservedPaths are the listener's own paths; a chat's endpoint must not
// take one.
var reservedPaths = []string{"/healthz", "/readyz", "/metrics"}

// checkHTTP checks the listener's settings and how a Slack chat in events
// mode shares it.
func (c *Config) checkHTTP() error {
	h := c.HTTP
	if h.Listen != "" {
		if _, _, err := net.SplitHostPort(h.Listen); err != nil {
			return fmt.Errorf("http.listen %q: give host:port, such as 127.0.0.1:8080", h.Listen)
		}
	}
	if _, err := h.Allow(); err != nil {
		return err
	}
	if (h.MetricsUser == "") != (h.MetricsPassword == "") {
		return errors.New("http: set both metrics_user and metrics_password for basic auth on /metrics, or neither")
	}
	if h.MetricsPassword != "" && !slices.Contains(c.secrets, h.MetricsPassword) {
		return errors.New("http.metrics_password: write it as ${HEED_METRICS_PASSWORD} and set that variable, not the password itself in the file")
	}
	if h.ReadyDispatchWithin < 0 {
		return errors.New("http.ready_dispatch_within: give a duration such as 2m")
	}
	paths := map[string]string{}
	for _, name := range SortedNames(c.Chats) {
		ch := c.Chats[name]
		if KindOf(ch) != "slack" || ch["mode"] != "events" || h.Listen == "" {
			continue
		}
		if own, _ := ch["listen"].(string); own != "" && own != h.Listen {
			return fmt.Errorf("chats.%s.listen (%s) and http.listen (%s) differ: with http.listen set, heed serves the Events API on it; remove chats.%s.listen", name, own, h.Listen, name)
		}
		path, _ := ch["path"].(string)
		if path == "" {
			path = "/slack/events"
		}
		if slices.Contains(reservedPaths, path) {
			return fmt.Errorf("chats.%s.path %s is one of heed's own paths (%s): choose another, such as /slack/events", name, path, strings.Join(reservedPaths, ", "))
		}
		if other, dup := paths[path]; dup {
			return fmt.Errorf("chats.%s.path %s is also chats.%s's path: give each Slack chat its own path", name, path, other)
		}
		paths[path] = name
	}
	return nil
}

// Allow is the /metrics allow-list as prefixes; nil when none is set.
func (h HTTPConfig) Allow() ([]netip.Prefix, error) {
	var out []netip.Prefix
	for _, a := range h.MetricsAllow {
		p, err := netip.ParsePrefix(a)
		if err != nil {
			ip, ipErr := netip.ParseAddr(a)
			if ipErr != nil {
				return nil, fmt.Errorf("http.metrics_allow: %q is not a network such as 10.0.0.0/8 or an address such as 127.0.0.1", a)
			}
			p = netip.PrefixFrom(ip, ip.BitLen())
		}
		out = append(out, p.Masked())
	}
	return out, nil
}

// SharesListener says whether heed's listener serves chat name's HTTP
// endpoint: a Slack chat in events mode, when http.listen is set.
func (c *Config) SharesListener(name string) bool {
	ch := c.Chats[name]
	return c.HTTP.Listen != "" && KindOf(ch) == "slack" && ch["mode"] == "events"
}

// TripwireConfig is the optional news tripwire; it is off without feeds.
type TripwireConfig struct {
	Feeds     []FeedConfig `yaml:"feeds"`
	Keywords  []string     `yaml:"keywords"`
	AutoPause bool         `yaml:"auto_pause"`
	Window    Duration     `yaml:"window"`   // due occurrences listed in an alert (default 6h)
	Interval  Duration     `yaml:"interval"` // between fetches of a feed (default 2m)
}

// SourcesConfig are where posts come from besides people.
type SourcesConfig struct {
	Feeds []FeedSourceConfig `yaml:"feeds"`
}

// FeedSourceConfig is one feed whose new items become posts.
type FeedSourceConfig struct {
	Name     string            `yaml:"name"`
	URL      string            `yaml:"url"`
	Text     string            `yaml:"text"`     // a Go text/template over .Title .Link .Summary .Categories
	Variants map[string]string `yaml:"variants"` // per target, the same
	Targets  []string          `yaml:"targets"`
	Room     string            `yaml:"room"`  // whose approvers review its posts (default: the first room)
	Delay    DurationText      `yaml:"delay"` // a new item goes out this long after it is seen...
	Slots    []string          `yaml:"slots"` // ...or at the next free slot, such as "Mon-Fri 09:30", in the room's zone
	Backfill int               `yaml:"backfill"`
	Every    DurationText      `yaml:"every"` // between fetches (default 10m)
}

// minFeedEvery is the shortest wait between fetches of a feed.
const minFeedEvery = time.Minute

// FeedSources are the configured feeds' settings, checked; each error
// names the feed and the field.
func (c *Config) FeedSources() ([]feeds.Feed, error) {
	var out []feeds.Feed
	names := map[string]bool{}
	for i, fc := range c.Sources.Feeds {
		where := fmt.Sprintf("sources.feeds[%d] (%s)", i, fc.Name)
		f := feeds.Feed{Name: strings.TrimSpace(fc.Name), URL: fc.URL, Text: fc.Text, Variants: fc.Variants,
			Targets: fc.Targets, Room: fc.Room, Backfill: fc.Backfill}
		if names[f.Name] {
			return nil, fmt.Errorf("%s name: two feeds are named %q; give each its own name", where, f.Name)
		}
		names[f.Name] = true
		for _, t := range fc.Targets {
			if c.Targets[t] == nil {
				return nil, fmt.Errorf("%s targets: %q is not configured under targets (configured: %s)", where, t, strings.Join(SortedNames(c.Targets), ", "))
			}
		}
		room := c.Rooms[0]
		if fc.Room != "" {
			i := slices.IndexFunc(c.Rooms, func(r RoomConfig) bool { return r.Name == fc.Room })
			if i < 0 {
				names := make([]string, len(c.Rooms))
				for j, r := range c.Rooms {
					names[j] = r.Name
				}
				return nil, fmt.Errorf("%s room: %q is not a configured room (rooms: %s)", where, fc.Room, strings.Join(names, ", "))
			}
			room = c.Rooms[i]
		}
		zone, err := approvals.LoadZone(cmp.Or(room.Zone, c.Zone))
		if err != nil {
			return nil, fmt.Errorf("%s: the room's zone: %s", where, approvals.ErrorMessage(err))
		}
		f.Zone = zone
		if f.Delay, err = fc.Delay.Duration(); err != nil {
			return nil, fmt.Errorf("%s delay: %v", where, err)
		}
		if f.Every, err = fc.Every.Duration(); err != nil {
			return nil, fmt.Errorf("%s every: %v", where, err)
		}
		if f.Every != 0 && f.Every < minFeedEvery {
			return nil, fmt.Errorf("%s every: %s is too often: fetch a feed at most once a minute, such as every: 10m", where, f.Every)
		}
		if f.Slots, err = timing.ParseSlots(fc.Slots); err != nil {
			return nil, fmt.Errorf("%s slots: %v", where, err)
		}
		if err := feeds.Check(f); err != nil {
			return nil, fmt.Errorf("%s %w", where, err)
		}
		out = append(out, f)
	}
	return out, nil
}

// FeedSource builds the source of posts from feeds, or nil when no feed
// is configured; version goes into its user agent.
func (c *Config) FeedSource(svc *sqlite.Service, log *slog.Logger, version string) (*feeds.Source, error) {
	fs, err := c.FeedSources()
	if err != nil || len(fs) == 0 {
		return nil, err
	}
	return feeds.New(fs, feeds.Options{Posts: svc.Posts, Reviews: svc.Reviews, Items: svc.Store, Log: log,
		Fetch: feedfetch.Options{UserAgent: "heed/" + version}})
}

// FeedConfig is one watched feed: a URL, or a mapping with name and url.
type FeedConfig struct {
	Name string `yaml:"name"`
	URL  string `yaml:"url"`
}

// UnmarshalYAML accepts a plain URL as well as a mapping.
func (f *FeedConfig) UnmarshalYAML(b []byte) error {
	var u string
	if err := yaml.Unmarshal(b, &u); err == nil {
		f.URL = u
		return nil
	}
	type plain FeedConfig
	return yaml.UnmarshalWithOptions(b, (*plain)(f), yaml.Strict())
}

// Duration reads "90s", "2m", "168h" (and 0).
type Duration time.Duration

// UnmarshalYAML parses a Go duration string.
func (d *Duration) UnmarshalYAML(b []byte) error {
	var s string
	if err := yaml.Unmarshal(b, &s); err != nil {
		return err
	}
	if s == "0" {
		*d = 0
		return nil
	}
	v, err := time.ParseDuration(s)
	if err != nil {
		return fmt.Errorf("%q is not a duration: use forms such as 90s, 2m or 168h", s)
	}
	*d = Duration(v)
	return nil
}

// Or returns d, or def when d is zero.
func (d Duration) Or(def time.Duration) time.Duration {
	if d == 0 {
		return def
	}
	return time.Duration(d)
}

var envRef = regexp.MustCompile(`\$\{([A-Za-z_][A-Za-z0-9_]*)\}`)

// A reference ${NAME} is read as $\uE000NAME\uE001 while the file is parsed:
// braces would end a flow collection ([${A}, ${B}]), and the private-use
// marks appear in no configuration.
var heldRef = regexp.MustCompile("\\$\uE000([A-Za-z_][A-Za-z0-9_]*)\uE001")

// holdRefs marks every ${NAME} in src so that parsing leaves it as it is.
func holdRefs(src []byte) []byte {
	return envRef.ReplaceAll(src, []byte("$$\uE000${1}\uE001"))
}

// quotedRef is a marked reference in a message that quoted it (%q).
var quotedRef = regexp.MustCompile(`\$(?:\x{E000}|\\ue000)([A-Za-z_][A-Za-z0-9_]*)(?:\x{E001}|\\ue001)`)

// shownRefs turns marked references back into ${NAME}, for messages that
// show the file as written.
func shownRefs(s string) string {
	return quotedRef.ReplaceAllString(s, "$${${1}}")
}

// typedValue is a value that keeps its YAML type when a reference stands
// alone and unquoted (workers: ${HEED_WORKERS}): true, false, a number.
var typedValue = regexp.MustCompile(`^(true|false|-?(0|[1-9][0-9]{0,17})(\.[0-9]+)?)$`)

// expandEnv replaces ${NAME} in every string value of the parsed file
// with the environment's value, taken as it is: the value is never read
// as YAML, so it may hold any character. A reference that is a whole
// unquoted value and whose value is true, false or a number keeps that
// type. An unset variable is an error naming the line, so a missing secret
// is caught at start, not at the first publish. It returns the values.
func expandEnv(f *ast.File) ([]string, error) {
	x := &expander{}
	for _, doc := range f.Docs {
		doc.Body = x.node(doc.Body)
	}
	return x.values, errors.Join(x.errs...)
}

type expander struct {
	values []string
	errs   []error
}

// node expands the references in n and returns n, or the node that takes
// its place.
func (x *expander) node(n ast.Node) ast.Node {
	switch n := n.(type) {
	case *ast.MappingNode:
		for _, v := range n.Values {
			x.key(v.Key)
			v.Value = x.node(v.Value)
		}
	case *ast.MappingValueNode:
		x.key(n.Key)
		n.Value = x.node(n.Value)
	case *ast.SequenceNode:
		for i, v := range n.Values {
			n.Values[i] = x.node(v)
		}
	case *ast.AnchorNode:
		n.Value = x.node(n.Value)
	case *ast.TagNode:
		n.Value = x.node(n.Value)
	case *ast.LiteralNode:
		if n.Value != nil && heldRef.MatchString(n.Value.Value) {
			n.Value.Value = x.expand(n.Value.Value, n.Value.Token)
			n.Value.Token.Value = n.Value.Value
		}
	case *ast.StringNode:
		if !heldRef.MatchString(n.Value) {
			return n
		}
		tk := n.Token
		alone := tk.Type == token.StringType && heldRef.FindString(n.Value) == n.Value
		v := x.expand(n.Value, tk)
		lead := tk.Origin[:len(tk.Origin)-len(strings.TrimLeft(tk.Origin, " \t\r\n"))]
		trail := tk.Origin[len(strings.TrimRight(tk.Origin, " \t\r\n")):]
		tk.Value = v
		if alone && typedValue.MatchString(v) {
			tk.Origin = lead + v + trail
			switch {
			case v == "true" || v == "false":
				tk.Type = token.BoolType
				return ast.Bool(tk)
			case strings.Contains(v, "."):
				tk.Type = token.FloatType
				return ast.Float(tk)
			default:
				tk.Type = token.IntegerType
				return ast.Integer(tk)
			}
		}
		// A custom unmarshaler reads the value through Origin.
		tk.Type, tk.Origin = token.DoubleQuoteType, lead+strconv.Quote(v)+trail
		n.Value = v
	}
	return n
}

// key records a reference in a mapping key as an error: only values are
// expanded.
func (x *expander) key(k ast.MapKeyNode) {
	if k == nil {
		return
	}
	if tk := k.GetToken(); tk != nil && heldRef.MatchString(tk.Value) {
		x.errs = append(x.errs, fmt.Errorf("line %d: %s is a key: ${NAME} is replaced in values only", tk.Position.Line, shownRefs(tk.Value)))
	}
}

// expand replaces the references in s, recording unset variables.
func (x *expander) expand(s string, tk *token.Token) string {
	return heldRef.ReplaceAllStringFunc(s, func(m string) string {
		name := heldRef.FindStringSubmatch(m)[1]
		v, ok := os.LookupEnv(name)
		if !ok {
			x.errs = append(x.errs, fmt.Errorf("line %d: ${%s} is not set in the environment", tk.Position.Line, name))
		}
		if v != "" {
			x.values = append(x.values, v)
		}
		return v
	})
}

// redact removes every secret from an error's text.
func redact(err error, secrets []string) error {
	if err == nil {
		return nil
	}
	msg := err.Error()
	for _, s := range secrets {
		msg = strings.ReplaceAll(msg, s, "[redacted]")
	}
	return errors.New(msg)
}

// LoadConfig reads path, or returns the defaults when path is "". The file
// is parsed first and ${NAME} expanded in its values after, so that a value
// never changes the file's structure.
func LoadConfig(path string) (*Config, error) {
	c := &Config{}
	if path != "" {
		c.dir = filepath.Dir(path)
		raw, err := os.ReadFile(path)
		if err != nil {
			return nil, err
		}
		src := holdRefs(raw)
		f, err := parser.ParseBytes(src, 0)
		if err != nil {
			return nil, fmt.Errorf("%s:\n%s", path, shownRefs(yaml.FormatError(err, false, true)))
		}
		secrets, err := expandEnv(f)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
		c.secrets = secrets
		if len(f.Docs) > 0 && f.Docs[0].Body != nil {
			if err := yaml.NodeToValue(f.Docs[0].Body, c, yaml.Strict()); err != nil {
				// Show the file as written, with ${NAME} and not its value.
				var shown Config
				if rawErr := yaml.UnmarshalWithOptions(src, &shown, yaml.Strict()); rawErr != nil {
					return nil, redact(fmt.Errorf("%s:\n%s", path, shownRefs(yaml.FormatError(rawErr, false, true))), secrets)
				}
				return nil, redact(fmt.Errorf("%s: %s", path, shownRefs(yaml.FormatError(err, false, false))), secrets)
			}
		}
	}
	c.defaults()
	if err := c.check(); err != nil {
		if path == "" {
			return nil, err
		}
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return c, nil
}

func (c *Config) defaults() {
	if u := os.Getenv("HEED_DATABASE_URL"); u != "" {
		c.Database = u
	}
	if c.Database == "" {
		c.Database = "heed.db"
	}
	if c.Zone == "" {
		c.Zone = "UTC"
		if tz := os.Getenv("TZ"); tz != "" {
			c.Zone = tz
		}
	}
	if len(c.Chats) == 0 {
		c.Chats = map[string]map[string]any{"console": {"kind": "console"}}
	}
	if len(c.Targets) == 0 {
		c.Targets = map[string]map[string]any{"log": {"kind": "log"}}
	}
	if len(c.Rooms) == 0 && len(c.Chats) == 1 && c.Chats["console"] != nil && KindOf(c.Chats["console"]) == "console" {
		c.Rooms = []RoomConfig{{Name: "console", Everyone: true}}
	}
	for i := range c.Rooms {
		if c.Rooms[i].Chat == "" && len(c.Chats) == 1 {
			for name := range c.Chats {
				c.Rooms[i].Chat = name
			}
		}
		if c.Rooms[i].ID == "" && KindOf(c.Chats[c.Rooms[i].Chat]) == "console" {
			c.Rooms[i].ID = "console"
		}
	}
}

// KindOf is the kind of a chat or target: its settings' "kind".
func KindOf(m map[string]any) string { s, _ := m["kind"].(string); return s }

// SortedNames returns a map's keys in order, so that output and start-up
// order are stable.
func SortedNames[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

func (c *Config) check() error {
	if _, err := approvals.LoadZone(c.Zone); err != nil {
		return fmt.Errorf("zone: %s", approvals.ErrorMessage(err))
	}
	people, err := approvals.NewPeople(c.People)
	if err != nil {
		return err
	}
	c.people = people
	switch c.Log.Format {
	case "", "text", "json":
	default:
		return fmt.Errorf("log.format %q: use text or json", c.Log.Format)
	}
	consoles := 0
	for name, ch := range c.Chats {
		if KindOf(ch) == "" {
			return fmt.Errorf("chats.%s: no kind: use console, matrix or slack", name)
		}
		if KindOf(ch) == "console" {
			consoles++
		}
	}
	if consoles > 1 {
		return errors.New("chats: only one console chat can read this terminal")
	}
	if len(c.Rooms) == 0 {
		return errors.New("rooms: no review room: add at least one (see heed.example.yaml)")
	}
	names := map[string]bool{}
	for i, r := range c.Rooms {
		if c.Chats[r.Chat] == nil {
			return fmt.Errorf("rooms[%d] (%s): chat %q is not configured under chats (configured: %s)", i, r.Name, r.Chat, strings.Join(SortedNames(c.Chats), ", "))
		}
		if r.ID == "" {
			return fmt.Errorf("rooms[%d] (%s): no id: give the room or channel id", i, r.Name)
		}
		if names[r.Name] {
			return fmt.Errorf("rooms: %q is named twice", r.Name)
		}
		names[r.Name] = true
		if _, err := approvals.NormalizeEmojiList(r.ApproveEmoji); err != nil {
			return fmt.Errorf("rooms[%d] (%s) approve_emoji: %s", i, r.Name, approvals.ErrorMessage(err))
		}
		if _, err := approvals.NormalizeEmojiList(r.RejectEmoji); err != nil {
			return fmt.Errorf("rooms[%d] (%s) reject_emoji: %s", i, r.Name, approvals.ErrorMessage(err))
		}
		if r.Required < 0 {
			return fmt.Errorf("rooms[%d] (%s): required must be 1 or more", i, r.Name)
		}
		if !r.Everyone && len(r.Approvers) == 0 && KindOf(c.Chats[r.Chat]) == "console" {
			return fmt.Errorf("rooms[%d] (%s): nobody may approve: list approvers, or set everyone: true", i, r.Name)
		}
		if err := c.checkPolicy(fmt.Sprintf("rooms[%d] (%s)", i, r.Name), r); err != nil {
			return err
		}
	}
	if err := c.checkHTTP(); err != nil {
		return err
	}
	if err := c.checkRetention(); err != nil {
		return err
	}
	if c.ChatLease != 0 && (time.Duration(c.ChatLease) < 2*time.Second || time.Duration(c.ChatLease) > 5*time.Minute) {
		return fmt.Errorf("chat_lease: %s is out of range: give a duration from 2s to 5m, such as 7s", time.Duration(c.ChatLease))
	}
	if c.SeriesCards < 0 {
		return errors.New("series_cards: give how many upcoming occurrences of a recurring post get a card, such as 3")
	}
	if _, err := c.Safeguards(); err != nil {
		return err
	}
	if _, err := c.FeedSources(); err != nil {
		return err
	}
	for name, t := range c.Targets {
		if KindOf(t) == "" {
			return fmt.Errorf("targets.%s: no kind: use one of log, webhook, mastodon, bluesky, x, linkedin, facebook, matrix, slack", name)
		}
		if name == "" || strings.ContainsAny(name, " \t,") {
			return fmt.Errorf("targets: name %q has spaces or commas; people type it in chat", name)
		}
	}
	return nil
}

// reserved are the reactions with a meaning of their own on every card.
var reserved = map[string]string{
	approvals.StopEmoji: "holds one post when anyone reacts with it",
	bot.RetractEmoji:    "retracts a published post",
}

// checkPolicy refuses a room policy that cannot work as written: an emoji
// that both approves and rejects, an approve emoji that already means
// something else, or more approvals required than people who may ever
// give them. where names the room in errors.
func (c *Config) checkPolicy(where string, r RoomConfig) error {
	p := r.Policy().WithDefaults()
	for _, e := range p.ApproveEmoji {
		if slices.Contains(p.RejectEmoji, e) {
			which, fix := "reject_emoji", "remove it from one of the two lists"
			if len(r.RejectEmoji) == 0 {
				which = "the default reject_emoji (" + strings.Join(p.RejectEmoji, " ") + ")"
				fix = "remove it from approve_emoji, or set reject_emoji without it"
			}
			return fmt.Errorf("%s approve_emoji: %s is also in %s: a reaction cannot both approve and reject; %s", where, e, which, fix)
		}
		if what, ok := reserved[e]; ok {
			return fmt.Errorf("%s approve_emoji: %s %s; choose another emoji to approve", where, e, what)
		}
	}
	names, open := c.possibleApprovers(r)
	if open {
		return nil
	}
	if len(names) == 0 {
		return fmt.Errorf("%s: nobody may approve: list approvers, set everyone: true, or name approvers under its chat (slack approver_groups, matrix approver_power_level)", where)
	}
	for _, req := range []struct {
		key  string
		need int
	}{{"required", p.Required}, {"sensitive_required", r.SensitiveRequired}} {
		if req.need > len(names) {
			return fmt.Errorf("%s %s: %d approvals needed, but only %d people may ever approve here (%s): lower %s, list more approvers, or set everyone: true",
				where, req.key, req.need, len(names), strings.Join(names, ", "), req.key)
		}
	}
	return nil
}

// possibleApprovers lists who may ever approve in a room: its approvers
// and those its chat lists for it (matrix rooms[].approvers, slack
// channels[].approvers). It is open when that has no bound: everyone may
// approve, the chat reads approvers itself (slack approver_groups, matrix
// approver_power_level), or the chat is of a kind heed cannot look into.
func (c *Config) possibleApprovers(r RoomConfig) (names []string, open bool) {
	if r.Everyone {
		return nil, true
	}
	add := func(s string) {
		if s != "" && !slices.Contains(names, s) {
			names = append(names, s)
		}
	}
	for _, a := range r.Approvers {
		add(a)
	}
	var key string
	switch KindOf(c.Chats[r.Chat]) {
	case "console":
		return names, false
	case "matrix":
		key = "rooms"
	case "slack":
		key = "channels"
	default:
		return nil, true
	}
	list, _ := c.Chats[r.Chat][key].([]any)
	for _, item := range list {
		m, ok := item.(map[string]any)
		if !ok || m["id"] != r.ID {
			continue
		}
		if groups, _ := m["approver_groups"].([]any); len(groups) > 0 || m["approver_power_level"] != nil {
			return nil, true
		}
		approvers, _ := m["approvers"].([]any)
		for _, a := range approvers {
			s, _ := a.(string)
			add(s)
		}
	}
	return names, false
}

// Policy builds the approval policy of a room.
// RoomPolicy is a room's policy with the team's people.
func (c *Config) RoomPolicy(r RoomConfig) approvals.Policy {
	p := r.Policy()
	p.People = c.people
	return p
}

// Person is the person identity belongs to among the configuration's
// people, or "" when it is nobody's.
func (c *Config) Person(identity string) string { return c.people.Of(identity) }

// PersonOf checks that identity (a --as name, a calendar's author) is one
// of the people when a chat other than the console is configured: heed
// must know the same person in the chat, or the author could approve their
// own post there.
func (c *Config) PersonOf(identity string) error {
	chats := false
	for _, ch := range c.Chats {
		if KindOf(ch) != "console" {
			chats = true
		}
	}
	if !chats || c.people.Known(identity) {
		return nil
	}
	return approvals.Errorf(approvals.EINVALID, "%q is none of the people in the configuration, so heed cannot tell their own reactions in chat: "+
		"add them under people: (%s: [%s, <their Slack or Matrix user id>]), or give --as one of: %s", identity, identity, identity, strings.Join(c.people.Names(), ", "))
}

func (r RoomConfig) Policy() approvals.Policy {
	approve, _ := approvals.NormalizeEmojiList(r.ApproveEmoji)
	reject, _ := approvals.NormalizeEmojiList(r.RejectEmoji)
	return approvals.Policy{Approvers: r.Approvers, Everyone: r.Everyone, Required: r.Required,
		AuthorMayApprove: r.AuthorMayApprove, ApproveEmoji: approve, RejectEmoji: reject}
}

// Decoder returns a strict decoder for one chat's or target's own
// settings: the mapping without its kind. Its errors never show a secret.
func (c *Config) Decoder(m map[string]any) func(v any) error {
	return func(v any) error {
		rest := map[string]any{}
		for k, val := range m {
			if k != "kind" {
				rest[k] = val
			}
		}
		b, err := yaml.Marshal(rest)
		if err != nil {
			return err
		}
		if err := yaml.UnmarshalWithOptions(b, v, yaml.Strict()); err != nil {
			return redact(errors.New(yaml.FormatError(err, false, false)), c.secrets)
		}
		return nil
	}
}

// Logger logs to standard error in the configured format and level.
func (c *Config) Logger() *slog.Logger {
	var level slog.Level
	_ = level.UnmarshalText([]byte(c.Log.Level))
	opts := &slog.HandlerOptions{Level: level}
	if c.Log.Format == "json" {
		return slog.New(slog.NewJSONHandler(os.Stderr, opts))
	}
	return slog.New(slog.NewTextHandler(os.Stderr, opts))
}

// DefaultLastCall is the last call's lead when the config sets none.
const DefaultLastCall = timing.DefaultLastCallLead

// targetSafeguardKeys are the keys of a target's settings that belong to
// the safeguards, not to its publisher: Catalog strips them before the
// publisher's strict decoder sees the settings.
var targetSafeguardKeys = []string{"audience_zones", "audience_countries"}

var countryCode = regexp.MustCompile(`^[A-Z]{2}(-[A-Z0-9]{1,3})?$`)

// Safeguards turns the safeguard keys into the engine's settings,
// naming the key of any problem. The result is built once per process.
func (c *Config) Safeguards() (*timing.Safeguards, error) {
	if c.guards != nil {
		return c.guards, nil
	}
	team, err := approvals.LoadZone(c.Zone)
	if err != nil {
		return nil, fmt.Errorf("zone: %s", approvals.ErrorMessage(err))
	}
	g := &timing.Safeguards{Rooms: map[string]timing.RoomSafeguards{}, DefaultRoom: c.Rooms[0].Name, Zone: team, Audiences: map[string]timing.Audience{}}
	lead := DefaultLastCall
	if c.LastCall != nil {
		lead = time.Duration(*c.LastCall)
	}
	if lead < 0 {
		return nil, errors.New("last_call: give a duration such as 15m, or 0 for none")
	}
	for i, r := range c.Rooms {
		where := fmt.Sprintf("rooms[%d] (%s)", i, r.Name)
		rs := timing.RoomSafeguards{LastCall: lead, OnDuty: time.Duration(r.OnDuty), SensitiveRequired: r.SensitiveRequired}
		if r.LastCall != nil {
			if rs.LastCall = time.Duration(*r.LastCall); rs.LastCall < 0 {
				return nil, fmt.Errorf("%s last_call: give a duration such as 15m, or 0 for none", where)
			}
		}
		if rs.OnDuty < 0 {
			return nil, fmt.Errorf("%s on_duty: give a duration such as 2h", where)
		}
		if rs.SensitiveRequired < 0 {
			return nil, fmt.Errorf("%s sensitive_required: give a number of approvals, such as 2", where)
		}
		if err := c.checkDeadlines(where, r); err != nil {
			return nil, err
		}
		rs.ApproveBy, _ = r.ApproveBy.Duration()
		rs.RemindEvery, _ = r.RemindEvery.Duration()
		rs.EscalateTo = slices.Clone(r.EscalateTo)
		zone := c.Zone
		if r.Zone != "" {
			loc, err := approvals.LoadZone(r.Zone)
			if err != nil {
				return nil, fmt.Errorf("%s zone: %s", where, approvals.ErrorMessage(err))
			}
			zone, rs.Zone = r.Zone, loc
		}
		if len(r.StaffedHours) > 0 || len(r.Holidays) > 0 {
			h, err := timing.ParseHours(zone, r.StaffedHours, r.Holidays)
			if err != nil {
				return nil, fmt.Errorf("%s: %v", where, err)
			}
			rs.Hours = h
		}
		g.Rooms[r.Name] = rs
	}
	if g.Sensitive, err = timing.NewSensitive(); err != nil {
		return nil, err
	}
	if c.SensitiveDates != "" {
		path := c.SensitiveDates
		if !filepath.IsAbs(path) && c.dir != "" {
			path = filepath.Join(c.dir, path)
		}
		data, err := os.ReadFile(path)
		if err != nil {
			return nil, fmt.Errorf("sensitive_dates: %w", err)
		}
		if err := g.Sensitive.AddFile(c.SensitiveDates, data); err != nil {
			return nil, fmt.Errorf("sensitive_dates: %w", err)
		}
	}
	if g.Countries, err = countries("audience_countries", c.AudienceCountries); err != nil {
		return nil, err
	}
	for _, name := range SortedNames(c.Targets) {
		a, err := audienceOf(name, c.Targets[name])
		if err != nil {
			return nil, err
		}
		g.Audiences[name] = a
	}
	if len(c.Tripwire.Feeds) > 0 || len(c.Tripwire.Keywords) > 0 {
		if _, err := c.Watcher(nil, ""); err != nil {
			return nil, err
		}
	}
	g.Tripwire = timing.TripwireSettings{AutoPause: c.Tripwire.AutoPause, Window: time.Duration(c.Tripwire.Window)}
	c.guards = g
	return g, nil
}

// Watcher builds the news tripwire's watcher; version goes into its
// user agent.
func (c *Config) Watcher(log *slog.Logger, version string) (*tripwire.Watcher, error) {
	return tripwire.New(c.tripwireConfig(log, version))
}

// tripwireConfig is the watcher's configuration.
func (c *Config) tripwireConfig(log *slog.Logger, version string) tripwire.Config {
	tc := tripwire.Config{Keywords: c.Tripwire.Keywords, Interval: time.Duration(c.Tripwire.Interval), Logger: log, UserAgent: "heed/" + version}
	for _, f := range c.Tripwire.Feeds {
		tc.Feeds = append(tc.Feeds, tripwire.Feed{Name: f.Name, URL: f.URL})
	}
	return tc
}

func countries(key string, list []string) ([]string, error) {
	var out []string
	for _, cc := range list {
		norm := strings.ToUpper(strings.TrimSpace(cc))
		if !countryCode.MatchString(norm) {
			return nil, fmt.Errorf("%s: %q is not an ISO 3166 country code such as DE, or a region such as DE-BY", key, cc)
		}
		out = append(out, norm)
	}
	return out, nil
}

// audienceOf reads a target's audience keys.
func audienceOf(name string, t map[string]any) (timing.Audience, error) {
	var a timing.Audience
	list := func(key string) ([]string, error) {
		v, ok := t[key]
		if !ok {
			return nil, nil
		}
		items, ok := v.([]any)
		if !ok {
			return nil, fmt.Errorf("targets.%s.%s: give a list, e.g. [Europe/Berlin]", name, key)
		}
		out := make([]string, 0, len(items))
		for _, it := range items {
			s, ok := it.(string)
			if !ok {
				return nil, fmt.Errorf("targets.%s.%s: %v is not a name", name, key, it)
			}
			out = append(out, s)
		}
		return out, nil
	}
	zones, err := list("audience_zones")
	if err != nil {
		return a, err
	}
	for _, z := range zones {
		loc, err := approvals.LoadZone(z)
		if err != nil || z == "" {
			return a, fmt.Errorf("targets.%s.audience_zones: unknown time zone %q: use an IANA name such as Europe/Berlin", name, z)
		}
		a.Zones = append(a.Zones, loc)
	}
	cs, err := list("audience_countries")
	if err != nil {
		return a, err
	}
	a.Countries, err = countries("targets."+name+".audience_countries", cs)
	return a, err
}
