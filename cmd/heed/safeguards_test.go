package main

import (
	"encoding/json"
	"fmt"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/heed-dev/heed/approvals"
	"github.com/heed-dev/heed/approvals/timing"
	"github.com/heed-dev/heed/bot"
	"github.com/heed-dev/heed/feeds"
)

// The check of issue 6, as a new user would type it, with no config.
func TestPostShowNamesTheSensitiveDay(t *testing.T) {
	t.Setenv("TZ", "")
	db := newDB(t, t.TempDir())
	id := strings.TrimSpace(mustHeed(t, db, "post", "add", "--at", "2027-11-09T10:00", "--tz", "Europe/Berlin", "--to", "log", "--text", "Treat yourself today!"))
	out := mustHeed(t, db, "post", "show", id)
	if !strings.Contains(out, "⚠ falls on a sensitive day: Kristallnacht (Reichspogromnacht), 1938 (2027-11-09, DE, AT; in Europe/Berlin for log)") {
		t.Fatalf("post show does not name the day:\n%s", out)
	}
	js := mustHeed(t, db, "post", "show", id, "--json")
	if !strings.Contains(js, "Kristallnacht") {
		t.Fatalf("post show --json does not name the day:\n%s", js)
	}
	// The day after is no such day.
	id2 := strings.TrimSpace(mustHeed(t, db, "post", "add", "--at", "2027-11-10T10:00", "--tz", "Europe/Berlin", "--to", "log", "--text", "Treat yourself!"))
	if out := mustHeed(t, db, "post", "show", id2); strings.Contains(out, "sensitive day") {
		t.Fatalf("10 November is flagged:\n%s", out)
	}
}

func TestPostShowWarnsOffHours(t *testing.T) {
	dir := t.TempDir()
	cfg := writeFile(t, dir, "heed.yaml", `zone: Europe/Berlin
rooms:
  - name: social
    everyone: true
    staffed_hours: ["Mon-Fri 09:00-18:00"]
    holidays: [DE-BY]
`)
	db := newDB(t, dir)
	id := strings.TrimSpace(mustHeed(t, db, "--config", cfg, "post", "add", "--at", "2099-12-25 10:00", "--to", "log", "--text", "Merry Christmas"))
	out := mustHeed(t, db, "--config", cfg, "post", "show", id)
	if !strings.Contains(out, "⚠ holiday in DE-BY") || !strings.Contains(out, "allow N off-hours") {
		t.Fatalf("post show does not warn of the holiday:\n%s", out)
	}
}

func TestSafeguardConfig(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, dir, "dates.yaml", "days:\n  - date: \"06-01\"\n    countries: [\"*\"]\n    name: Founders' remembrance\n    source: our own\n")
	ok := writeFile(t, dir, "ok.yaml", `zone: Europe/Berlin
last_call: 0
sensitive_dates: dates.yaml
audience_countries: [DE, AT]
rooms:
  - name: social
    everyone: true
    last_call: 20m
    staffed_hours: ["Mon-Fri 09:00-18:00", "Sat 10:00-14:00"]
    holidays: [DE-BY]
    on_duty: 2h
    sensitive_required: 2
    approve_by: 2h
    remind_every: 30m
    escalate_to: [dave]
  - name: night
    chat: console
    id: night
    everyone: true
targets:
  log:
    kind: log
  us:
    kind: log
    audience_zones: [America/New_York]
    audience_countries: [US]
tripwire:
  feeds:
    - https://news.example/breaking.xml
    - name: agency
      url: https://agency.example/feed
  keywords: [explosion*, shooting]
  auto_pause: true
  window: 6h
`)
	out := mustHeed(t, filepath.Join(dir, "x.db"), "--config", ok, "config", "check")
	shipped, err := timing.NewSensitive()
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"safeguards of social: last call 20m before; staffed Mon-Fri 09:00-18:00; Sat 10:00-14:00 except holidays in DE-BY (Europe/Berlin); on duty within 2h; reminders from 2h before, every 30m, escalating to dave; 2 approvals on sensitive days",
		"safeguards of night: no last call; always staffed",
		fmt.Sprintf("sensitive days: %d known (shipped list and dates.yaml", len(shipped.Entries())+1),
		"audience of log: zones Europe/Berlin (and each post's own zone unless set); countries DE, AT",
		"audience of us: zones America/New_York (and each post's own zone unless set); countries US",
		"tripwire: 2 feed(s), keywords explosion*, shooting, auto_pause true",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("config check lacks %q:\n%s", want, out)
		}
	}
	for src, want := range map[string]string{
		"rooms:\n  - name: r\n    everyone: true\n    holidays: [XX]\n":                       "not in the holiday library",
		"rooms:\n  - name: r\n    everyone: true\n    staffed_hours: [\"Mon 25:00-26:00\"]\n": "past the end of the day",
		"rooms:\n  - name: r\n    everyone: true\n    zone: Mars/Base\n":                      "rooms[0] (r) zone: unknown time zone",
		"last_call: soon\n":               "not a duration",
		"audience_countries: [Germany]\n": "audience_countries: \"Germany\" is not an ISO 3166 country code",
		"targets:\n  log:\n    kind: log\n    audience_zones: [Berlin]\n":      "targets.log.audience_zones: unknown time zone \"Berlin\"",
		"targets:\n  log:\n    kind: log\n    audience_zones: Europe/Berlin\n": "targets.log.audience_zones: give a list",
		"tripwire:\n  feeds: [https://news.example/x]\n":                       "no keywords",
		"tripwire:\n  feeds: [ftp://news.example/x]\n  keywords: [x]\n":        "not an http(s) URL",
		"sensitive_dates: missing.yaml\n":                                      "sensitive_dates:",
	} {
		_, err := heed(t, filepath.Join(dir, "x.db"), "--config", writeFile(t, dir, "bad.yaml", src), "config", "check")
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%q: err = %v, want %q", src, err, want)
		}
	}
}

func TestPauseRetractFromTheCLI(t *testing.T) {
	db := newDB(t, t.TempDir())
	if out := mustHeed(t, db, "pause", "--offline", "--retract", "2h", "--reason", "quiet"); !strings.Contains(out, "Nothing published in the last 2h is left to retract") {
		t.Fatalf("empty offer: %s", out)
	}
	mustHeed(t, db, "resume", "--offline")

	// Publish one post through the domain, as a daemon would.
	ctx := t.Context()
	svc := openService(t, db)
	p, err := svc.Posts.AddPost(ctx, approvals.NewPost{Text: "went out", Targets: []string{"log"}, Author: "bob",
		Schedule: approvals.Schedule{At: time.Now().Add(time.Minute), TZ: "UTC"}}, "bob", "test")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := svc.Posts.Materialize(ctx); err != nil {
		t.Fatal(err)
	}
	if err := svc.Reviews.OpenReview(ctx, p.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := svc.Reviews.React(ctx, approvals.ReactionInput{Occurrence: p.ID, User: "alice", Emoji: "✅"}); err != nil {
		t.Fatal(err)
	}
	at := time.Now().Add(2 * time.Minute)
	res, err := svc.Deliveries.Settle(ctx, p.ID, at, approvals.SettleOptions{Runner: "test"})
	if err != nil || len(res.Claims) != 1 {
		t.Fatalf("settle: %+v %v", res, err)
	}
	if err := svc.Deliveries.RecordPublish(ctx, res.Claims[0], approvals.Outcome{Kind: approvals.OutcomeOK, URL: "https://log.example/1"}, at); err != nil {
		t.Fatal(err)
	}

	out := mustHeed(t, db, "pause", "--offline", "--retract", "2h", "--reason", "breaking news")
	for _, want := range []string{"⏸ Paused all publishing", "Retract offer 1 by tester", "#1 ", "log https://log.example/1", "`retract confirm`"} {
		if !strings.Contains(out, want) {
			t.Errorf("pause --retract lacks %q:\n%s", want, out)
		}
	}
	if offers, err := svc.Pauses.UnpostedOffers(ctx); err != nil || len(offers) != 1 || offers[0].Items[0] != p.ID {
		t.Fatalf("offer waiting for the daemon: %+v %v", offers, err)
	}
}

func TestStatusShowsTripwireFeeds(t *testing.T) {
	db := newDB(t, t.TempDir())
	svc := openService(t, db)
	st := bot.TripwireStatus{At: time.Now(), Feeds: []bot.FeedHealth{
		{Name: "wire", URL: "https://news.example/feed", Error: "HTTP 500 Internal Server Error", Failures: 3, LastError: time.Now()},
		{Name: "agency", URL: "https://agency.example/rss", LastOK: time.Now()},
	}}
	b, _ := json.Marshal(st)
	if err := svc.Store.SetKV(t.Context(), bot.TripwireStatusKey, string(b)); err != nil {
		t.Fatal(err)
	}
	out := mustHeed(t, db, "status")
	for _, want := range []string{"⚠ tripwire feed wire (https://news.example/feed) failing: HTTP 500 Internal Server Error (3 in a row)", "Publishing is not affected", "tripwire feed agency (https://agency.example/rss): ok"} {
		if !strings.Contains(out, want) {
			t.Errorf("status lacks %q:\n%s", want, out)
		}
	}
	if js := mustHeed(t, db, "status", "--json"); !strings.Contains(js, `"tripwire"`) || !strings.Contains(js, "HTTP 500") {
		t.Fatalf("status --json lacks the tripwire:\n%s", js)
	}
}

// TestStatusShowsFeeds: `heed status` shows the health of the feeds posts
// come from, as the daemon saved it.
func TestStatusShowsFeeds(t *testing.T) {
	db := newDB(t, t.TempDir())
	svc := openService(t, db)
	h := feeds.Health{At: time.Now(), Feeds: []feeds.FeedHealth{
		{Name: "blog", URL: "https://example.org/blog.atom", Error: "not a valid RSS, Atom or JSON feed: EOF", Failures: 2, LastError: time.Now()},
		{Name: "releases", URL: "https://example.org/releases.xml", LastOK: time.Now()},
	}}
	b, _ := json.Marshal(h)
	if err := svc.Store.SetKV(t.Context(), feeds.StatusKey, string(b)); err != nil {
		t.Fatal(err)
	}
	out := mustHeed(t, db, "status")
	for _, want := range []string{"⚠ feed blog (https://example.org/blog.atom) failing: not a valid RSS, Atom or JSON feed: EOF (2 in a row)", "publishing is not affected", "feed releases (https://example.org/releases.xml): ok"} {
		if !strings.Contains(out, want) {
			t.Errorf("status lacks %q:\n%s", want, out)
		}
	}
	if js := mustHeed(t, db, "status", "--json"); !strings.Contains(js, `"feeds"`) || !strings.Contains(js, "JSON feed: EOF") {
		t.Fatalf("status --json lacks the feeds:\n%s", js)
	}
}

// TestResolveManyAtOnce: after a crash left several outcomes unknown,
// `heed resolve all published` (or several numbers) settles them in one
// command.
func TestResolveManyAtOnce(t *testing.T) {
	db := newDB(t, t.TempDir())
	ctx := t.Context()
	svc := openService(t, db)
	var ids []int64
	for i := range 3 {
		p, err := svc.Posts.AddPost(ctx, approvals.NewPost{Text: "crashed " + strconv.Itoa(i), Targets: []string{"log"}, Author: "bob",
			Schedule: approvals.Schedule{At: time.Now().Add(time.Minute), TZ: "UTC"}}, "bob", "test")
		if err != nil {
			t.Fatal(err)
		}
		if _, err := svc.Posts.Materialize(ctx); err != nil {
			t.Fatal(err)
		}
		if err := svc.Reviews.OpenReview(ctx, p.ID); err != nil {
			t.Fatal(err)
		}
		if _, err := svc.Reviews.React(ctx, approvals.ReactionInput{Occurrence: p.ID, User: "alice", Emoji: "✅"}); err != nil {
			t.Fatal(err)
		}
		if res, err := svc.Deliveries.Settle(ctx, p.ID, time.Now().Add(2*time.Minute), approvals.SettleOptions{Runner: "test"}); err != nil || len(res.Claims) != 1 {
			t.Fatalf("settle: %+v %v", res, err)
		}
		ids = append(ids, p.ID)
	}
	if n, err := svc.Deliveries.RecoverCrashed(ctx, nil); err != nil || n != 3 {
		t.Fatalf("recover: %d %v", n, err)
	}
	out := mustHeed(t, db, "resolve", strconv.FormatInt(ids[0], 10), "failed")
	if !strings.Contains(out, "resolved as failed") {
		t.Fatalf("resolve one: %s", out)
	}
	out = mustHeed(t, db, "resolve", "all", "published")
	for _, id := range ids[1:] {
		if !strings.Contains(out, "#"+strconv.FormatInt(id, 10)+" resolved as published") {
			t.Errorf("resolve all did not resolve #%d:\n%s", id, out)
		}
	}
	if _, err := heed(t, db, "resolve", "all", "published"); err == nil {
		t.Error("resolve all with nothing unknown succeeded")
	}
}
