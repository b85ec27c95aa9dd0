package safeguards

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/heed-dev/heed/approvals"
	"github.com/heed-dev/heed/approvals/timing"
	"github.com/heed-dev/heed/bot"
	"github.com/heed-dev/heed/internal/heedtest"
	"github.com/heed-dev/heed/tripwire"
)

// rss is an RSS 2.0 document (shape as in the RSS 2.0 specification) with
// one breaking item published at `at` and one harmless item.
func rss(at time.Time) string {
	return `<?xml version="1.0" encoding="UTF-8"?>
<rss version="2.0"><channel>
<title>Example Wire</title><link>https://news.example/</link><description>Breaking news</description>
<item><title>Explosion in the city centre, several injured</title><link>https://news.example/explosion</link>
<guid>https://news.example/explosion</guid><pubDate>` + at.Format(time.RFC1123Z) + `</pubDate>
<description>Police are at the scene.</description></item>
<item><title>Sunny weekend ahead</title><link>https://news.example/weather</link>
<guid>https://news.example/weather</guid><pubDate>` + at.Format(time.RFC1123Z) + `</pubDate></item>
</channel></rss>`
}

func feedServer(t *testing.T, h http.HandlerFunc) string {
	t.Helper()
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return srv.URL + "/feed.xml"
}

func watcher(t *testing.T, feeds ...tripwire.Feed) *tripwire.Watcher {
	t.Helper()
	w, err := tripwire.New(tripwire.Config{Feeds: feeds, Keywords: []string{"explosion*", "shooting"}, Timeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	return w
}

func tripwireStack(t *testing.T, autoPause bool) *heedtest.Stack {
	g := room(timing.RoomSafeguards{})
	g.Tripwire = timing.TripwireSettings{AutoPause: autoPause, Window: 6 * time.Hour}
	return heedtest.New(t, heedtest.Options{Safeguards: g})
}

func TestTripwireAlertListsWhatIsDue(t *testing.T) {
	s := tripwireStack(t, false)
	soon := approved(t, s, "Beach party tonight!", 2*time.Hour)
	later := s.Add("Next week's digest", 10*time.Hour)
	s.Cycle()
	url := feedServer(t, func(w http.ResponseWriter, r *http.Request) { fmt.Fprint(w, rss(s.Clock.Now().Add(-5*time.Minute))) })
	w := watcher(t, tripwire.Feed{Name: "wire", URL: url})

	s.Engine.Tripwire().Poll(s.Ctx, w, s.Clock.Now())
	if n := s.Chat.RepliesContaining("News tripwire"); n != 1 {
		t.Fatalf("%d alerts, want 1: %q", n, s.Chat.Replies)
	}
	alert := s.Chat.LastReply()
	wantContains(t, "alert", alert, "“Explosion in the city centre, several injured” (wire, matched explosion*)", "https://news.example/explosion",
		"Due in the next 6h:", fmt.Sprintf("#%d approved", soon.ID), "Beach party tonight!", "type `pause [reason]`")
	wantNotContains(t, "alert", alert, fmt.Sprintf("#%d ", later.ID), "Sunny weekend")
	if p, _ := s.Service.Pauses.ActivePauses(s.Ctx); len(p) != 0 {
		t.Fatalf("paused without auto_pause: %+v", p)
	}
	if a := audits(t, s, 0, "tripwire.alert"); len(a) != 1 {
		t.Fatalf("tripwire audit: %+v", a)
	}

	// The same item is not news twice: not on the next poll, and not from
	// a watcher that starts again (a restarted heed).
	s.Clock.Advance(3 * time.Minute)
	s.Engine.Tripwire().Poll(s.Ctx, w, s.Clock.Now())
	s.Engine.Tripwire().Poll(s.Ctx, watcher(t, tripwire.Feed{Name: "wire", URL: url}), s.Clock.Now())
	if n := s.Chat.RepliesContaining("News tripwire"); n != 1 {
		t.Fatalf("%d alerts after polling again, want 1", n)
	}

	// Without a pause, the approved post still goes out.
	s.Clock.Advance(2 * time.Hour)
	s.Cycle()
	s.WantState(soon.ID, approvals.StatePublished)
}

func TestTripwireAutoPauseHaltsPublishing(t *testing.T) {
	s := tripwireStack(t, true)
	p := approved(t, s, "Beach party tonight!", time.Hour)
	url := feedServer(t, func(w http.ResponseWriter, r *http.Request) { fmt.Fprint(w, rss(s.Clock.Now().Add(-time.Minute))) })
	s.Engine.Tripwire().Poll(s.Ctx, watcher(t, tripwire.Feed{Name: "wire", URL: url}), s.Clock.Now())

	pauses, _ := s.Service.Pauses.ActivePauses(s.Ctx)
	if len(pauses) != 1 || pauses[0].By != bot.TripwireActor || !strings.Contains(pauses[0].Reason, "Explosion in the city centre") {
		t.Fatalf("pauses: %+v", pauses)
	}
	wantContains(t, "alert", s.Chat.LastReply(), "📰 News tripwire", "⏸ The news tripwire paused all publishing by itself, because of news tripwire: “Explosion in the city centre",
		"https://news.example/explosion", "1 upcoming occurrence(s) now held back")
	if a := audits(t, s, 0, "pause"); len(a) != 1 || a[0].Actor != "tripwire" {
		t.Fatalf("pause audit: %+v", a)
	}
	s.Clock.Advance(time.Hour)
	s.Cycle()
	s.WantState(p.ID, approvals.StateHeld)
	if len(s.Rec.Texts()) != 0 {
		t.Fatal("published while the tripwire had paused")
	}
}

func TestTripwireBrokenFeedsChangeNothingAndAreReported(t *testing.T) {
	s := tripwireStack(t, true)
	p := approved(t, s, "Beach party tonight!", 10*time.Minute)
	status500 := feedServer(t, func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "explosion of errors", http.StatusInternalServerError)
	})
	invalid := feedServer(t, func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, "<rss><channel><item><title>Explosion</title></item>") // cut off
	})
	huge := feedServer(t, func(w http.ResponseWriter, r *http.Request) {
		// 50 MB with no Content-Length: the watcher must stop reading.
		w.Header().Set("Content-Type", "application/rss+xml")
		chunk := []byte(strings.Repeat("<item><title>Explosion</title></item>", 1700))
		for sent := 0; sent < 50<<20; sent += len(chunk) {
			if _, err := w.Write(chunk); err != nil {
				return
			}
		}
	})
	w := watcher(t, tripwire.Feed{Name: "down", URL: status500}, tripwire.Feed{Name: "garbled", URL: invalid}, tripwire.Feed{Name: "huge", URL: huge})
	s.Engine.Tripwire().Poll(s.Ctx, w, s.Clock.Now())

	if n := s.Chat.RepliesContaining("tripwire"); n != 0 {
		t.Fatalf("broken feeds raised alerts: %q", s.Chat.Replies)
	}
	if pauses, _ := s.Service.Pauses.ActivePauses(s.Ctx); len(pauses) != 0 {
		t.Fatalf("broken feeds paused: %+v", pauses)
	}
	st, ok, err := bot.ReadTripwireStatus(s.Ctx, s.Store)
	if err != nil || !ok || len(st.Feeds) != 3 {
		t.Fatalf("saved status %+v %v %v", st, ok, err)
	}
	for i, want := range []string{"HTTP 500", "not a valid RSS, Atom or JSON feed", "over the 5242880-byte limit"} {
		if f := st.Feeds[i]; !strings.Contains(f.Error, want) || f.Failures != 1 {
			t.Errorf("feed %s: error %q (%d failures), want %q", f.Name, f.Error, f.Failures, want)
		}
	}
	status := say(t, s, "eve", "status")
	wantContains(t, "status", status, "⚠ tripwire feed down (", "failing: HTTP 500", "⚠ tripwire feed garbled", "⚠ tripwire feed huge", "Publishing is not affected.")

	s.Clock.Advance(10 * time.Minute)
	s.Cycle()
	s.WantState(p.ID, approvals.StatePublished)
}
