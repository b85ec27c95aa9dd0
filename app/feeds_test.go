package app_test

import (
	"strings"
	"testing"
	"time"

	"github.com/heed-dev/heed/app"
)

const feedRooms = `rooms:
  - {name: social, everyone: true, zone: Europe/Berlin}
  - {name: releases, everyone: true}
`

// TestFeedSourceConfig: sources.feeds reads as documented, in the room's
// zone.
func TestFeedSourceConfig(t *testing.T) {
	c, err := app.LoadConfig(writeConfig(t, feedRooms+`sources:
  feeds:
    - name: blog
      url: https://example.org/blog.atom
      text: "{{.Title}} {{.Link}}"
      variants: {log: "{{.Title}}"}
      targets: [log]
      slots: ["Mon-Fri 09:30", "Mon-Fri 14:00"]
      backfill: 2
      every: 15m
    - name: releases
      url: https://example.org/releases.json
      targets: [log]
      room: releases
      delay: 2h
`))
	if err != nil {
		t.Fatal(err)
	}
	fs, err := c.FeedSources()
	if err != nil {
		t.Fatal(err)
	}
	if len(fs) != 2 {
		t.Fatalf("%d feeds", len(fs))
	}
	if b := fs[0]; b.Name != "blog" || b.Backfill != 2 || b.Every != 15*time.Minute || b.Slots.Empty() || b.Zone.String() != "Europe/Berlin" || b.Variants["log"] != "{{.Title}}" {
		t.Fatalf("blog: %+v", b)
	}
	if r := fs[1]; r.Room != "releases" || r.Delay != 2*time.Hour || r.Zone.String() != "UTC" || r.Text != "" {
		t.Fatalf("releases: %+v", r)
	}
}

// TestBadFeedSourceConfig: each mistake is refused with the feed and the
// field named, and no secret of the URL shown.
func TestBadFeedSourceConfig(t *testing.T) {
	feed := func(lines string) string {
		return feedRooms + "sources:\n  feeds:\n    - name: blog\n      url: https://example.org/feed\n      targets: [log]\n" + lines
	}
	tests := map[string]string{
		feed("      delay: 2h\n      slots: [\"09:30\"]\n"): "sources.feeds[0] (blog) delay and slots: give one of the two",
		feed(""):                    "sources.feeds[0] (blog) delay or slots: say when a new item is to go out",
		feed("      delay: soon\n"): `sources.feeds[0] (blog) delay: "soon" is not a duration`,
		feed("      slots: [\"Mon-Fri 9.30\"]\n"):            `sources.feeds[0] (blog) slots: slot "Mon-Fri 9.30": time "9.30" must be HH:MM`,
		feed("      slots: [\"Mo-Fr 09:30\"]\n"):             `sources.feeds[0] (blog) slots: slot "Mo-Fr 09:30": unknown day "Mo"`,
		feed("      delay: 1h\n      every: 10s\n"):          "sources.feeds[0] (blog) every: 10s is too often",
		feed("      delay: 1h\n      room: nowhere\n"):       `sources.feeds[0] (blog) room: "nowhere" is not a configured room (rooms: social, releases)`,
		feed("      delay: 1h\n      text: \"{{.Nope}}\"\n"): "sources.feeds[0] (blog) text: template: text:1:2: executing",
		feed("      delay: 1h\n      backfill: -1\n"):        "sources.feeds[0] (blog) backfill:",
		feedRooms + "sources:\n  feeds:\n    - {name: blog, url: https://example.org/f, targets: [mastodon], delay: 1h}\n":                                                                 `sources.feeds[0] (blog) targets: "mastodon" is not configured under targets`,
		feedRooms + "sources:\n  feeds:\n    - {name: blog, url: \"ftp://example.org/f?token=s3cr3t\", targets: [log], delay: 1h}\n":                                                       `sources.feeds[0] (blog) url: "ftp://example.org/f" is not an http(s) URL`,
		feedRooms + "sources:\n  feeds:\n    - {name: a, url: https://example.org/f, targets: [log], delay: 1h}\n    - {name: a, url: https://example.org/g, targets: [log], delay: 1h}\n": `sources.feeds[1] (a) name: two feeds are named "a"`,
		feedRooms + "sources:\n  feeds:\n    - {name: a, url: https://example.org/f, targets: [log], delay: 1h, unknown: 1}\n":                                                             `unknown field "unknown"`,
	}
	for src, want := range tests {
		_, err := app.LoadConfig(writeConfig(t, src))
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s\nerror %v\nwant %q", src, err, want)
		}
		if err != nil && strings.Contains(err.Error(), "s3cr3t") {
			t.Errorf("a secret in the error: %v", err)
		}
	}
}
