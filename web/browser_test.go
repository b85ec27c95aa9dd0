package web_test

import (
	"context"
	"errors"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/chromedp"

	"github.com/heed-dev/heed/app"
	"github.com/heed-dev/heed/approvals"
	"github.com/heed-dev/heed/bot"
	"github.com/heed-dev/heed/bot/console"
	"github.com/heed-dev/heed/internal/heedtest"
)

// chromium is the headless browser of the browser tier: HEED_CHROMIUM, or
// Debian's /usr/bin/chromium, which scripts/test.sh installs
// (scripts/chromium.sh). Without one the test fails, as the Matrix tier
// does without Dendrite: a tier that does not run must not pass.
func chromium(t *testing.T) string {
	t.Helper()
	if p := os.Getenv("HEED_CHROMIUM"); p != "" {
		if _, err := os.Stat(p); err != nil {
			t.Fatalf("web: HEED_CHROMIUM=%s: %v, so the browser tier cannot run: run scripts/test.sh, which installs Chromium (scripts/chromium.sh), or point HEED_CHROMIUM at one", p, err)
		}
		return p
	}
	if _, err := os.Stat("/usr/bin/chromium"); err == nil {
		return "/usr/bin/chromium"
	}
	t.Fatal("web: no Chromium (HEED_CHROMIUM is unset and /usr/bin/chromium is missing), so the browser tier cannot run: run scripts/test.sh, which installs it (scripts/chromium.sh), or set HEED_CHROMIUM")
	return ""
}

// browser starts a fresh headless Chromium; it stops when the test ends.
func browser(t *testing.T) context.Context {
	t.Helper()
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(chromium(t)), chromedp.UserDataDir(t.TempDir()),
		chromedp.Headless, chromedp.DisableGPU, chromedp.NoSandbox, chromedp.NoFirstRun,
		chromedp.Flag("disable-quic", true), chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true), chromedp.Flag("disable-sync", true),
		chromedp.Flag("no-default-browser-check", true), chromedp.WindowSize(1280, 900),
	}
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancel := chromedp.NewContext(actx)
	t.Cleanup(func() { cancel(); cancelAlloc() })
	// The first run starts the browser, which lives as long as its
	// context: so without a deadline (each step has one).
	if err := chromedp.Do(ctx); err != nil {
		t.Fatalf("browser: start %s: %v", chromium(t), err)
	}
	return ctx
}

// step runs browser actions within a deadline, failing the test with what.
func step(t *testing.T, ctx context.Context, what string, actions ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	sctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if err := chromedp.Do(sctx, actions...); err != nil {
		lctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		defer cancel()
		loc, _ := chromedp.Run(lctx, chromedp.Location())
		html, _ := chromedp.Run(lctx, chromedp.Evaluate[string](`Intl.DateTimeFormat().resolvedOptions().timeZone + " | " + document.cookie`))
		t.Fatalf("browser: %s: %v\nat %s:\n%s", what, err, loc, html)
	}
}

func text(t *testing.T, ctx context.Context, sel string) string {
	t.Helper()
	sctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	s, err := chromedp.Run(sctx, chromedp.Text(chromedp.CSS(sel)))
	if err != nil {
		t.Fatalf("browser: text of %s: %v", sel, err)
	}
	return s
}

// screenshot saves the page: into docs/img when HEED_SCREENSHOTS=1 (the
// README's pictures), else into the test's temporary directory.
func screenshot(t *testing.T, ctx context.Context, name string) {
	t.Helper()
	sctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	png, err := chromedp.Run(sctx, chromedp.FullScreenshot(100))
	if err != nil {
		t.Fatalf("browser: screenshot %s: %v", name, err)
	}
	dir := t.TempDir()
	if os.Getenv("HEED_SCREENSHOTS") == "1" {
		dir = filepath.Join("..", "docs", "img")
	}
	if err := os.WriteFile(filepath.Join(dir, name), png, 0o644); err != nil {
		t.Fatal(err)
	}
}

// TestBrowserCalendarPauseEverything drives the web view in a real
// browser set to Auckland's zone: the calendar puts three posts on their
// Auckland days, an occurrence shows its previews and sends approving to
// chat, and Pause everything is announced in the review room (the
// console chat, as `heed run` on its defaults has) and holds an approved
// post that comes due.
func TestBrowserCalendarPauseEverything(t *testing.T) {
	ctx := browser(t)
	clock := heedtest.NewClock(time.Date(2030, 1, 7, 9, 0, 0, 0, time.UTC))
	terminal := &screen{}
	con := &console.Adapter{In: strings.NewReader(""), Out: terminal, User: "carol", Now: clock.Now}
	s := heedtest.New(t, heedtest.Options{Clock: clock, Adapters: []bot.Adapter{con},
		Rooms: []bot.Room{{Name: "review", Adapter: "console", ID: console.Room, Policy: approvals.Policy{Approvers: heedtest.DefaultApprovers}}}})
	typed := func(line string) {
		t.Helper()
		if err := con.Line(s.Ctx, s.Engine, line); err != nil {
			t.Fatal(err)
		}
	}
	srv := s.System.HTTP(app.HTTPOptions{})
	tok := issueTokens(t, s)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	sctx, stop := context.WithCancel(context.Background())
	served := make(chan error, 1)
	go func() { served <- srv.Serve(sctx, ln, time.Second) }()
	t.Cleanup(func() {
		stop()
		if err := <-served; err != nil && !errors.Is(err, context.Canceled) {
			t.Errorf("serve: %v", err)
		}
	})
	base := "http://" + ln.Addr().String()

	// The clock is at Mon 2030-01-07 09:00 UTC; Auckland is 13 h ahead.
	launch := s.Add("Launch day: heed 2.0 is out. Thanks to everyone who tested it!", 26*time.Hour+30*time.Minute) // Tue 8 11:30 UTC: Wed 9 00:30 NZDT
	notes := s.Add("Release notes for 2.0, with the upgrade steps.", 3*24*time.Hour)                               // Thu 10 09:00 UTC: Thu 10 22:00 NZDT
	meetup := s.Add("Meet the team on Sunday at the community meetup.", 5*24*time.Hour+3*time.Hour)                // Sat 12 12:00 UTC: Sun 13 01:00 NZDT
	s.Cycle()
	typed("/as alice")
	typed("+" + itoa(launch.ID) + " ✅")
	s.Cycle()
	s.WantState(launch.ID, approvals.StateApproved)

	step(t, ctx, "set the zone to Pacific/Auckland", chromedp.Func(func(ctx context.Context, _ *chromedp.Target) error {
		_, err := chromedp.Call(ctx, emulation.SetTimezoneOverride, emulation.SetTimezoneOverrideParams{TimezoneID: "Pacific/Auckland"})
		return err
	}))
	step(t, ctx, "sign in",
		chromedp.Navigate(base+"/calendar?view=month"),
		chromedp.WaitVisible(chromedp.CSS("#token")),
		chromedp.SendKeys(chromedp.CSS("#token"), tok("tok-alice")),
		chromedp.Click(chromedp.CSS("#signin-button")),
		// The page's script tells the server the browser's zone and reloads.
		chromedp.WaitReady(chromedp.CSS(`body[data-zone="Pacific/Auckland"] #calendar`)),
	)
	for _, c := range []struct {
		day, text, not string
	}{
		{"2030-01-09", "00:30 #" + itoa(launch.ID) + " Launch day", "2030-01-08"},
		{"2030-01-10", "22:00 #" + itoa(notes.ID) + " Release notes", ""},
		{"2030-01-13", "01:00 #" + itoa(meetup.ID) + " Meet the team", "2030-01-12"},
	} {
		if got := text(t, ctx, "#day-"+c.day); !strings.Contains(got, c.text) {
			t.Errorf("Auckland's %s shows %q, want %q", c.day, got, c.text)
		}
		if c.not != "" {
			if got := text(t, ctx, "#day-"+c.not); strings.Contains(got, c.text[6:]) {
				t.Errorf("%s (its UTC day) shows %q too", c.not, got)
			}
		}
	}
	screenshot(t, ctx, "calendar.png")

	step(t, ctx, "open an occurrence",
		chromedp.Click(chromedp.CSS(`#day-2030-01-09 a.occ`)),
		chromedp.WaitVisible(chromedp.CSS("#approve-in-chat")),
	)
	if got := text(t, ctx, "#preview-rec"); !strings.Contains(got, "Launch day: heed 2.0 is out.") {
		t.Errorf("the preview for rec shows %q", got)
	}
	if got := text(t, ctx, "#approve-in-chat"); !strings.Contains(got, "Approving stays in chat") || !strings.Contains(got, "review") {
		t.Errorf("the occurrence page says %q about approving", got)
	}
	if got := text(t, ctx, "#decisions"); !strings.Contains(got, "approved") || !strings.Contains(got, "@alice") {
		t.Errorf("decisions: %q", got)
	}
	screenshot(t, ctx, "occurrence.png")

	step(t, ctx, "pause everything",
		chromedp.Navigate(base+"/pauses"),
		chromedp.WaitVisible(chromedp.CSS("#reason")),
		chromedp.SendKeys(chromedp.CSS("#reason"), "Breaking news: holding everything"),
		chromedp.Click(chromedp.CSS("#pause-button")),
		chromedp.WaitVisible(chromedp.CSS("#receipt")),
	)
	if got := text(t, ctx, "#receipt"); !strings.Contains(got, "Paused all publishing. By alice, reason: Breaking news: holding everything.") {
		t.Fatalf("receipt %q", got)
	}
	s.Cycle() // the engine tells the review room
	if n := strings.Count(terminal.String(), "alice paused all publishing from outside this chat (reason: Breaking news: holding everything)"); n != 1 {
		t.Fatalf("%d pause receipts in the console, want 1:\n%s", n, terminal.String())
	}
	s.Clock.Set(launch.Schedule.At)
	s.Cycle()
	s.WantState(launch.ID, approvals.StateHeld)
	if n := len(s.Rec.Texts()); n != 0 {
		t.Fatalf("%d sent during the pause", n)
	}
}

// screen is the console's terminal: what heed printed, safe to read while
// heed writes.
type screen struct {
	mu sync.Mutex
	b  strings.Builder
}

func (s *screen) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *screen) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
