package approvals

import (
	"fmt"
	"strings"
	"time"
)

// TargetCatalog is what the domain knows of publish targets: their names,
// and the problems a payload has for each (over length, missing alt text).
// dispatch.Catalog implements it; the domain imports no network.
type TargetCatalog interface {
	Known(target string) bool
	Names() []string
	Problems(p Payload) []string
}

// NewPost is a post as a person or a calendar gives it.
type NewPost struct {
	Key      string
	Text     string
	Variants map[string]string
	Link     string
	Media    []Media
	Targets  []string
	Author   string
	Room     string
	Schedule Schedule
	// Source says where the post came from when not from the CLI or a
	// calendar file ("chat: @alice in review"); its card shows it.
	Source string
}

// NormalizeNewPost trims text and author, truncates the time to the second
// in UTC, and gives empty variants a map, so equal posts compare equal.
func NormalizeNewPost(p NewPost) NewPost {
	p.Text = strings.TrimRight(p.Text, " \t\r\n")
	p.Author = strings.TrimSpace(p.Author)
	p.Schedule.At = p.Schedule.At.UTC().Truncate(time.Second)
	if p.Schedule.Cron != "" {
		p.Schedule.Cron = strings.TrimSpace(p.Schedule.Cron)
	}
	if p.Variants == nil {
		p.Variants = map[string]string{}
	}
	return p
}

// PostSummary is the one-line description of a post the audit log keeps.
func PostSummary(p NewPost) string {
	when := p.Schedule.At.Format(time.RFC3339)
	if p.Schedule.Recurring() {
		when = "cron " + p.Schedule.Cron + " " + p.Schedule.TZ
	}
	return fmt.Sprintf("%s → %s: %q", when, strings.Join(p.Targets, ", "), Clip(p.Text, 80))
}

// Clip shortens s to at most n runes, ending in "…" when it cut.
func Clip(s string, n int) string {
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	return string(r[:n-1]) + "…"
}

// PostEdit is a change to a post; nil fields stay as they are.
type PostEdit struct {
	Text     *string
	Variants map[string]string // replaces all variants when non-nil
	Link     *string
	Media    []Media // replaces when non-nil
	Targets  []string
	Schedule *Schedule
	Room     *string
}

// OnSchedule reports whether t is one of the schedule's times.
func OnSchedule(s Schedule, t time.Time) bool {
	next, ok := s.Next(t.Add(-time.Second))
	return ok && next.Equal(t)
}
