package bot

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/heed-dev/heed/approvals"
	"github.com/heed-dev/heed/approvals/timing"
	"github.com/heed-dev/heed/tripwire"
)

// Tripwire posts the news tripwire's alerts in the engine's review rooms
// and pauses publishing when the team asked for that.
type Tripwire struct {
	e *Engine
}

// Poll runs one tripwire cycle at now: every alert goes to the
// review rooms, and the feeds' health is saved for `heed status`. A feed
// that fails only shows in that health; it never blocks anything.
func (tw *Tripwire) Poll(ctx context.Context, w *tripwire.Watcher, now time.Time) {
	for _, a := range w.Poll(ctx, now) {
		if err := tw.Alert(ctx, a); err != nil && ctx.Err() == nil {
			tw.e.Log.Error("tripwire alert", "feed", a.Feed, "err", err)
		}
	}
	if err := tw.saveStatus(ctx, w.Status(), now); err != nil && ctx.Err() == nil {
		tw.e.Log.Warn("tripwire status not saved", "err", err)
	}
}

// Run polls the watcher whenever a feed is due until ctx ends.
func (tw *Tripwire) Run(ctx context.Context, w *tripwire.Watcher) error {
	if err := tw.e.init(); err != nil {
		return err
	}
	if tw.e.replicated() {
		tw.e.leaseTripwire()
	}
	for {
		// At least a second between cycles, so a feed due again at once
		// (a clock step) cannot spin.
		wait := time.Second
		if tw.e.Holds(TripwireLease) {
			tw.Poll(ctx, w, tw.e.Now())
			wait = max(time.Until(w.Next()), wait)
		} else {
			wait = max(tw.e.RenewEvery(), wait) // another replica polls; look again for its lease
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		case <-t.C:
		}
	}
}

func (tw *Tripwire) saveStatus(ctx context.Context, feeds []tripwire.FeedStatus, now time.Time) error {
	s := TripwireStatus{At: now}
	s.Feeds = append(s.Feeds, feeds...)
	b, err := json.Marshal(s)
	if err != nil {
		return err
	}
	return tw.e.State.SetKV(ctx, TripwireStatusKey, string(b))
}

// Alert posts a matched news item in every review room, with the
// occurrences due soon, and pauses everything when the team asked for
// that. An item already alerted (before a restart) is not posted again.
func (tw *Tripwire) Alert(ctx context.Context, a tripwire.Alert) error {
	if err := tw.e.init(); err != nil {
		return err
	}
	sum := sha256.Sum256([]byte(a.Feed + "\x00" + a.Key))
	seenKey := "tripwire.alerted." + hex.EncodeToString(sum[:12])
	if v, err := tw.e.State.GetKV(ctx, seenKey); err != nil || v != "" {
		return err
	}
	var set timing.TripwireSettings
	if tw.e.Safeguards != nil {
		set = tw.e.Safeguards.Tripwire
	}
	window := set.Window
	if window <= 0 {
		window = 6 * time.Hour
	}
	now := tw.e.Now()
	var b strings.Builder
	fmt.Fprintf(&b, "📰 News tripwire: “%s” (%s, matched %s)", a.Title, a.Feed, strings.Join(a.Keywords, ", "))
	if a.Link != "" {
		b.WriteString("\n" + a.Link)
	}
	q, err := tw.e.Reviews.Queue(ctx, 100)
	if err != nil {
		return err
	}
	var due []string
	for _, s := range q {
		switch s.State {
		case approvals.StateScheduled, approvals.StateInReview, approvals.StateApproved:
		default:
			continue
		}
		if s.At.After(now.Add(window)) {
			break
		}
		due = append(due, fmt.Sprintf("  #%d %s %s (%s) → %s: %s", s.ID, s.State, s.At.In(tw.e.Zone).Format("Mon 15:04"), Relative(s.At, now),
			strings.Join(s.Targets, ", "), oneLine(approvals.Clip(s.Text, 60))))
	}
	if len(due) == 0 {
		fmt.Fprintf(&b, "\nNothing is due in the next %s.", approvals.ShortDuration(window))
	} else {
		fmt.Fprintf(&b, "\nDue in the next %s:\n%s", approvals.ShortDuration(window), strings.Join(due, "\n"))
	}
	detail := fmt.Sprintf("%s: %q %s (matched %s)", a.Feed, a.Title, a.Link, strings.Join(a.Keywords, ", "))
	if set.AutoPause {
		reason := fmt.Sprintf("news tripwire: “%s” (%s, matched %s) %s", a.Title, a.Feed, strings.Join(a.Keywords, ", "), a.Link)
		rc, err := tw.e.Pauses.PauseAll(ctx, TripwireActor, "", strings.TrimSpace(reason), "tripwire:"+a.Feed)
		if err != nil {
			return err
		}
		tw.e.cards.ownPauses(rc.Pause.ID)
		b.WriteString("\n" + PauseReceipt(rc))
		if tw.e.Wake != nil {
			tw.e.Wake()
		}
	} else {
		if err := tw.e.Audit.Record(ctx, approvals.AuditEntry{Actor: TripwireActor, Action: "tripwire.alert", Place: "tripwire:" + a.Feed, Detail: detail}); err != nil {
			return err
		}
		if len(due) > 0 {
			b.WriteString("\nIf these should not go out now, type `pause [reason]`: it stops all publishing at once.")
		}
	}
	text := b.String()
	for _, r := range tw.e.Rooms {
		if tw.e.Holds(r.Adapter) {
			_ = tw.e.reply(ctx, r, "", text)
		}
	}
	return tw.e.State.SetKV(ctx, seenKey, now.UTC().Format(time.RFC3339))
}
