package approvals

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/url"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/robfig/cron/v3"
)

// Post is what a person scheduled: text, targets and a schedule.
type Post struct {
	ID  int64  `json:"id"`
	Key string `json:"key,omitempty"` // stable key of a calendar entry; empty for posts made by hand
	// Text is the default text; Variants overrides it per target.
	Text     string            `json:"text"`
	Variants map[string]string `json:"variants,omitempty"`
	Link     string            `json:"link,omitempty"`
	Media    []Media           `json:"media,omitempty"`
	Targets  []string          `json:"targets"`
	Author   string            `json:"author"`
	Room     string            `json:"room,omitempty"`   // review room name; empty means the default room
	Source   string            `json:"source,omitempty"` // where it came from when not the CLI or a calendar ("chat: @alice in review")
	Schedule Schedule          `json:"schedule"`
	Canceled bool              `json:"canceled,omitempty"`
	Created  time.Time         `json:"created"`
	Updated  time.Time         `json:"updated"`
}

// Media is an image with its alt text. Path is the file a person gave
// (heed post add --media, a calendar's media:); it names the image on the
// card and is never read again. What goes out is the copy heed took into
// its media store when the post was added or edited, named by SHA256, so
// the payload hash covers the bytes and a file replaced later changes
// nothing. Media stored before heed kept copies have no SHA256 (see
// MediaProblems).
type Media struct {
	Path   string `json:"path"`
	Alt    string `json:"alt,omitempty"`
	SHA256 string `json:"sha256,omitempty"` // hex of the bytes in the media store
	Size   int64  `json:"size,omitempty"`   // bytes
	Type   string `json:"type,omitempty"`   // MIME type sniffed from the bytes
}

// Name is the image's file name, without its directory.
func (m Media) Name() string {
	if m.Path == "" {
		return "image"
	}
	return filepath.Base(strings.TrimRight(m.Path, `/\`))
}

// MediaProblems are what no network would be given for p: an image with
// no copy in the media store (attached before heed kept copies) would go
// out as whatever its file holds at the time, not what was approved. It
// blocks approval until the post is edited to give the image again.
func MediaProblems(p Payload) []string {
	var out []string
	for i, m := range p.Media {
		if m.SHA256 == "" {
			out = append(out, fmt.Sprintf("image %d (%s) was attached before heed kept its own copy of images, so heed cannot show that what goes out is what was approved: edit the post to add the image again (heed post edit ID --media FILE --alt TEXT)", i+1, m.Name()))
		}
	}
	return out
}

// TextFor returns the exact text for one target.
func (p *Post) TextFor(target string) string {
	if v, ok := p.Variants[target]; ok {
		return v
	}
	return p.Text
}

// Schedule is one time, or a cron spec in a zone with an optional end.
type Schedule struct {
	At    time.Time `json:"at,omitzero"`    // one-shot
	Cron  string    `json:"cron,omitempty"` // recurring: a standard 5-field spec or a descriptor (@daily)
	TZ    string    `json:"tz"`             // IANA zone the schedule is read in
	Until time.Time `json:"until,omitzero"` // recurring: no occurrence after this
}

// Recurring reports whether the schedule is a cron spec.
func (s Schedule) Recurring() bool { return s.Cron != "" }

var cronParser = cron.NewParser(cron.Minute | cron.Hour | cron.Dom | cron.Month | cron.Dow | cron.Descriptor)

// Next returns the first time of the schedule strictly after `after`, or
// false when there is none.
func (s Schedule) Next(after time.Time) (time.Time, bool) { return s.NextFunc()(after) }

// NextFunc returns Next with the spec parsed and the zone loaded once, for
// walking many times of one schedule.
func (s Schedule) NextFunc() func(after time.Time) (time.Time, bool) {
	if !s.Recurring() {
		return func(after time.Time) (time.Time, bool) {
			if s.At.After(after) {
				return s.At, true
			}
			return time.Time{}, false
		}
	}
	loc, err := time.LoadLocation(s.TZ)
	if err != nil {
		return func(time.Time) (time.Time, bool) { return time.Time{}, false }
	}
	sched, err := cronParser.Parse(s.Cron)
	if err != nil {
		return func(time.Time) (time.Time, bool) { return time.Time{}, false }
	}
	return func(after time.Time) (time.Time, bool) {
		next := sched.Next(after.In(loc))
		if next.IsZero() || (!s.Until.IsZero() && next.After(s.Until)) {
			return time.Time{}, false
		}
		return next.UTC(), true
	}
}

// A series that fires more than FrequentPerDay times a day gets a warning
// when it is scheduled; one that fires more than MaxPerDay times a day is
// refused unless the person asks for it.
const (
	FrequentPerDay = 24
	MaxPerDay      = 1440
)

// FiringsPerDay is the most times the schedule fires within 24 hours from
// the midnight (in its zone) of a day on which it fires. It samples the
// first 7 such days after from, and stops counting a day above limit. A
// one-shot schedule fires once.
func (s Schedule) FiringsPerDay(from time.Time, limit int) int {
	if !s.Recurring() {
		return 1
	}
	loc, err := LoadZone(s.TZ)
	if err != nil {
		return 0
	}
	next := s.NextFunc()
	most := 0
	t, ok := next(from)
	for day := 0; day < 7 && ok; day++ {
		y, m, d := t.In(loc).Date()
		start := time.Date(y, m, d, 0, 0, 0, 0, loc)
		end := start.Add(24 * time.Hour)
		n := 0
		for t, ok = next(start.Add(-time.Nanosecond)); ok && t.Before(end) && n <= limit; t, ok = next(t) {
			n++
		}
		most = max(most, n)
		if ok && t.Before(end) {
			t, ok = next(end.Add(-time.Nanosecond)) // counting stopped above limit
		}
	}
	return most
}

// ParseTime reads a time a person typed: RFC 3339, "2006-01-02 15:04",
// "2006-01-02T15:04" (in zone tz), or a relative "in 5m" / "+5m" from now.
func ParseTime(s, tz string, now time.Time) (time.Time, error) {
	s = strings.TrimSpace(s)
	loc, err := LoadZone(tz)
	if err != nil {
		return time.Time{}, err
	}
	if rel, ok := strings.CutPrefix(s, "in "); ok {
		if d, err := time.ParseDuration(strings.ReplaceAll(rel, " ", "")); err == nil && d > 0 {
			return now.Add(d).Truncate(time.Second).UTC(), nil
		}
		// "in 90 minutes" is for the natural-language parser below.
	}
	if rel, ok := strings.CutPrefix(s, "+"); ok {
		d, err := time.ParseDuration(strings.ReplaceAll(rel, " ", ""))
		if err != nil || d <= 0 {
			return time.Time{}, Errorf(EINVALID, "time %q: a relative time is a positive duration such as +5m, +2h30m or \"in 90s\"", s)
		}
		return now.Add(d).Truncate(time.Second).UTC(), nil
	}
	if t, err := time.Parse(time.RFC3339, s); err == nil {
		return t.Truncate(time.Second).UTC(), nil
	}
	for _, layout := range []string{"2006-01-02 15:04", "2006-01-02T15:04", "2006-01-02 15:04:05", "2006-01-02T15:04:05"} {
		if t, err := time.ParseInLocation(layout, s, loc); err == nil {
			return t.UTC(), nil
		}
	}
	if t, ok := parseNatural(s, loc, now); ok {
		return t, nil
	}
	return time.Time{}, Errorf(EINVALID, "time %q: use RFC 3339 (2026-12-01T09:00:00+01:00), \"2026-12-01 09:00\" with --tz, \"tomorrow 9:00\", or a relative time such as +5m", s)
}

// ParseBefore reads the time a person gives as a cutoff, as in `resolve
// all published before 2026-12-01`: a date alone is the start of that day
// in zone tz; anything else is read as ParseTime reads it.
func ParseBefore(s, tz string, now time.Time) (time.Time, error) {
	s = strings.TrimSpace(s)
	loc, err := LoadZone(tz)
	if err != nil {
		return time.Time{}, err
	}
	if s == "" {
		return time.Time{}, Errorf(EINVALID, "no time given: %s", beforeForms)
	}
	if t, err := time.ParseInLocation("2006-01-02", s, loc); err == nil {
		return t.UTC(), nil
	}
	if t, err := ParseTime(s, tz, now); err == nil {
		return t, nil
	}
	return time.Time{}, Errorf(EINVALID, "%q is not a time: %s", s, beforeForms)
}

const beforeForms = `use a date (2026-12-01, meaning the start of that day), "2026-12-01 09:00", ` +
	`RFC 3339 (2026-12-01T09:00:00+01:00), "today 17:00", or a relative time such as +2h`

// LoadZone loads an IANA zone, with an error that says what to use.
func LoadZone(tz string) (*time.Location, error) {
	if tz == "" {
		return time.UTC, nil
	}
	loc, err := time.LoadLocation(tz)
	if err != nil || strings.EqualFold(tz, "local") {
		return nil, Errorf(EINVALID, "unknown time zone %q: use an IANA name such as Europe/Berlin or America/New_York", tz)
	}
	return loc, nil
}

// ValidateSchedule checks a schedule as a person gave it, relative to now.
func ValidateSchedule(s Schedule, now time.Time) error {
	if _, err := LoadZone(s.TZ); err != nil {
		return err
	}
	if !s.Recurring() {
		if s.At.IsZero() {
			return Errorf(EINVALID, "no time given: set a time (--at) or a cron spec (--cron)")
		}
		if !s.At.After(now) {
			return Errorf(EINVALID, "time %s is in the past (now %s): pick a time in the future",
				s.At.UTC().Format(time.RFC3339), now.UTC().Format(time.RFC3339))
		}
		return nil
	}
	if !s.At.IsZero() {
		return Errorf(EINVALID, "give either a time or a cron spec, not both")
	}
	if _, err := cronParser.Parse(s.Cron); err != nil {
		return Errorf(EINVALID, "cron spec %q: %v; use five fields (minute hour day-of-month month day-of-week), e.g. \"0 9 * * MON\"", s.Cron, err)
	}
	if strings.Contains(s.Cron, "TZ=") {
		return Errorf(EINVALID, "cron spec %q: give the zone with tz, not inside the spec", s.Cron)
	}
	if _, ok := s.Next(now); !ok {
		if !s.Until.IsZero() {
			return Errorf(EINVALID, "cron spec %q never fires between now and its end %s", s.Cron, s.Until.Format(time.RFC3339))
		}
		return Errorf(EINVALID, "cron spec %q never fires (is it a date that does not exist, such as 30 February?)", s.Cron)
	}
	return nil
}

// Payload is what an approval is given for: per target, the exact text,
// link, media and scheduled time.
type Payload struct {
	Target string    `json:"target"`
	Text   string    `json:"text"`
	Link   string    `json:"link,omitempty"`
	Media  []Media   `json:"media,omitempty"`
	At     time.Time `json:"at"`
}

// Hash is the payload's content hash. Any change to text, link, media
// (the image's bytes, through its SHA256, and its alt text and name),
// target or time changes it. The fields media gained with the media store
// are left out when empty, so the hash of a payload stored before them is
// what it was.
func (p Payload) Hash() string {
	b, _ := json.Marshal(struct {
		Target string  `json:"target"`
		Text   string  `json:"text"`
		Link   string  `json:"link"`
		Media  []Media `json:"media"`
		At     int64   `json:"at"`
	}{p.Target, p.Text, p.Link, p.Media, p.At.Unix()})
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:16])
}

// Payloads returns one payload per target of post p at time at.
func Payloads(p *Post, at time.Time) []Payload {
	out := make([]Payload, 0, len(p.Targets))
	for _, t := range p.Targets {
		out = append(out, Payload{Target: t, Text: p.TextFor(t), Link: p.Link, Media: p.Media, At: at.UTC()})
	}
	return out
}

// Hashes maps each target to its payload hash.
func Hashes(ps []Payload) map[string]string {
	m := make(map[string]string, len(ps))
	for _, p := range ps {
		m[p.Target] = p.Hash()
	}
	return m
}

// CombinedHash is one hash over all targets' hashes: the occurrence's
// payload hash as a whole.
func CombinedHash(hashes map[string]string) string {
	keys := make([]string, 0, len(hashes))
	for k := range hashes {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	h := sha256.New()
	for _, k := range keys {
		h.Write([]byte(k + "=" + hashes[k] + "\n"))
	}
	return hex.EncodeToString(h.Sum(nil)[:16])
}

// IdempotencyKey is derived from the installation, the occurrence, the
// target and the approved payload hash: the same publish always carries the
// same key, and a different installation never collides.
func IdempotencyKey(installID string, occurrenceID int64, target, payloadHash string) string {
	h := sha256.Sum256([]byte(strings.Join([]string{"heed", installID, strconv.FormatInt(occurrenceID, 10), target, payloadHash}, "\x00")))
	return "heed-" + hex.EncodeToString(h[:16])
}

// IsWebLink reports whether s is an absolute http(s) URL with a host, the
// only links a post may carry.
func IsWebLink(s string) bool {
	u, err := url.Parse(s)
	return err == nil && (u.Scheme == "https" || u.Scheme == "http") && u.Host != ""
}
