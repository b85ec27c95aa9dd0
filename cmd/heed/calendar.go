package main

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/goccy/go-yaml"
	"github.com/goccy/go-yaml/parser"

	"github.com/heed-dev/heed/approvals"
)

// calendar is the YAML calendar format `heed import` reads:
//
//	posts:
//	  - key: release-1-2          # stable: re-imports update this post
//	    at: "2026-12-01 09:00"    # or cron: "0 9 * * MON" (+ until:)
//	    tz: Europe/Berlin
//	    to: [mastodon, bluesky]
//	    text: |
//	      heed 1.2 is out.
//	    allow_frequent: true      # a cron firing more than 1440 times a day
type calendar struct {
	Posts []calendarEntry `yaml:"posts"`
}

type calendarEntry struct {
	Key      string            `yaml:"key"`
	Text     string            `yaml:"text"`
	At       string            `yaml:"at"`
	Cron     string            `yaml:"cron"`
	TZ       string            `yaml:"tz"`
	Until    string            `yaml:"until"`
	To       []string          `yaml:"to"`
	Link     string            `yaml:"link"`
	Variants map[string]string `yaml:"variants"`
	Media    []struct {
		Path string `yaml:"path"`
		Alt  string `yaml:"alt"`
	} `yaml:"media"`
	Author string `yaml:"author"`
	Room   string `yaml:"room"`
	// AllowFrequent accepts a cron that fires more than
	// approvals.MaxPerDay times a day.
	AllowFrequent bool `yaml:"allow_frequent"`
}

// ParseCalendar reads a calendar file. Every problem is reported with its
// line, all at once; a file with any problem yields no entries. It warns,
// with the line, of a series that fires more than
// approvals.FrequentPerDay times a day, and refuses one above
// approvals.MaxPerDay unless the entry sets allow_frequent or
// allowFrequent is set. cards is how many upcoming times of a series have
// a card.
func ParseCalendar(name string, src []byte, zone, author string, now time.Time, allowFrequent bool, cards int) ([]approvals.ImportEntry, []string, error) {
	var cal calendar
	if err := yaml.UnmarshalWithOptions(src, &cal, yaml.Strict()); err != nil {
		return nil, nil, fmt.Errorf("%s is not a valid calendar:\n%s", name, yaml.FormatError(err, false, true))
	}
	file, err := parser.ParseBytes(src, 0)
	if err != nil {
		return nil, nil, err
	}
	line := func(i int) int {
		p, err := yaml.PathString(fmt.Sprintf("$.posts[%d]", i))
		if err != nil {
			return 0
		}
		n, err := p.FilterFile(file)
		if err != nil || n == nil {
			return 0
		}
		return n.GetToken().Position.Line
	}
	var errs, warnings []string
	seen := map[string]int{}
	var out []approvals.ImportEntry
	for i, e := range cal.Posts {
		where := fmt.Sprintf("%s:%d", name, line(i))
		fail := func(format string, args ...any) {
			errs = append(errs, where+": "+fmt.Sprintf(format, args...))
		}
		if e.Key == "" {
			fail("entry has no key: give each entry a stable key, so re-imports update it instead of adding a copy")
			continue
		}
		if first, dup := seen[e.Key]; dup {
			fail("key %q is used twice (first at line %d): keys must be unique", e.Key, first)
			continue
		}
		seen[e.Key] = line(i)
		tz := e.TZ
		if tz == "" {
			tz = zone
		}
		s := approvals.Schedule{TZ: tz, Cron: e.Cron}
		if e.At != "" {
			t, err := approvals.ParseTime(e.At, tz, now)
			if err != nil {
				fail("%s", approvals.ErrorMessage(err))
				continue
			}
			s.At = t
		}
		if e.Until != "" {
			t, err := approvals.ParseTime(e.Until, tz, now)
			if err != nil {
				fail("until: %s", approvals.ErrorMessage(err))
				continue
			}
			s.Until = t
		}
		warning, err := frequency(s, now, cards, e.AllowFrequent || allowFrequent, "the entry sets allow_frequent: true (or the import is given --allow-frequent)")
		if err != nil {
			fail("%s", approvals.ErrorMessage(err))
			continue
		}
		if warning != "" {
			warnings = append(warnings, fmt.Sprintf("%s (%s): %s", where, e.Key, warning))
		}
		who := e.Author
		if who == "" {
			who = author
		}
		var media []approvals.Media
		for _, m := range e.Media {
			media = append(media, approvals.Media{Path: m.Path, Alt: m.Alt})
		}
		out = append(out, approvals.ImportEntry{Where: where, Post: approvals.NewPost{
			Key: e.Key, Text: e.Text, Variants: e.Variants, Link: e.Link, Media: media,
			Targets: e.To, Author: who, Room: e.Room, Schedule: s,
		}})
	}
	if len(errs) > 0 {
		return nil, nil, errors.New(strings.Join(errs, "\n") + "\nnothing was imported")
	}
	return out, warnings, nil
}
