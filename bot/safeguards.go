package bot

import (
	"context"
	"encoding/json"
	"fmt"
	"github.com/heed-dev/heed/internal/feedfetch"
	"strings"
	"time"

	"github.com/heed-dev/heed/approvals"
	"github.com/heed-dev/heed/approvals/timing"
)

// TripwireActor is who a pause made by the news tripwire is recorded as.
const TripwireActor = "tripwire"

// Emoji with a meaning beyond approve and reject.
const (
	StopEmoji    = approvals.StopEmoji // holds one occurrence
	RetractEmoji = "🗑"                 // an approver takes a published post back
)

// LoadAdHoc adds the sensitive days the team added from chat, as stored,
// to g.
func LoadAdHoc(ctx context.Context, g *timing.Safeguards, svc approvals.ReviewService) error {
	if g == nil || g.Sensitive == nil {
		return nil
	}
	dates, err := svc.SensitiveDates(ctx)
	if err != nil {
		return err
	}
	return g.AddAdHoc(dates)
}

// TimingCheck is the domain services' Timing hook for this engine's safeguards.
func (e *Engine) TimingCheck(v approvals.View) approvals.TimingCheck {
	return e.Safeguards.Check(v)
}

// Retracter is implemented by target catalogs that can take back what
// they published (dispatch.Catalog).
type Retracter interface {
	CanRetract(target string) bool
	Retract(ctx context.Context, target, remoteID, url string) error
}

// lastCalls replies in the thread of every approved occurrence whose last
// call is due: once per occurrence and time, across restarts.
func (h *commands) lastCalls(ctx context.Context) error {
	g := h.e.Safeguards
	if g == nil {
		return nil
	}
	var lead time.Duration
	for _, r := range g.Rooms {
		lead = max(lead, r.LastCall)
	}
	if lead <= 0 {
		return nil
	}
	now := h.e.Now()
	ids, err := h.e.Reviews.LastCallsDue(ctx, now, lead)
	if err != nil {
		return err
	}
	for _, id := range ids {
		v, err := h.e.Reviews.Occurrence(ctx, id)
		if err != nil {
			return err
		}
		room := h.e.room(v.Post.Room)
		rs := g.Room(room.Name)
		if rs.LastCall <= 0 || v.At.Sub(now) > rs.LastCall {
			continue
		}
		if !h.e.Holds(room.Adapter) {
			continue // its chat's holder sends it
		}
		ref, ok, err := h.e.Reviews.Card(ctx, id, room.Adapter, room.ID)
		if err != nil || !ok {
			continue
		}
		claimed, err := h.e.Reviews.ClaimLastCall(ctx, id, v.At)
		if err != nil || !claimed {
			continue
		}
		a := h.e.adapter(room.Adapter)
		mention, _ := a.(Mentioner)
		if err := a.Reply(ctx, room.ID, MessageRef(ref.Ref), LastCallText(v, now, g.RoomZone(rs), mention)); err != nil {
			h.e.Log.Warn("last call not sent; will retry", "occurrence", id, "err", err)
			_ = h.e.Reviews.ReleaseLastCall(ctx, id, v.At)
		}
	}
	return nil
}

// LastCallText is the reminder before an approved occurrence goes out,
// mentioning the approvers the way the chat notifies them when it can.
func LastCallText(v approvals.View, now time.Time, zone *time.Location, m Mentioner) string {
	var who []string
	for _, r := range v.Verdict.Approvals {
		name := r.UserName
		if name == "" {
			name = r.User
		}
		if m != nil {
			name = m.Mention(r.User)
		}
		who = append(who, name)
	}
	prefix := ""
	if len(who) > 0 {
		prefix = strings.Join(who, " ") + ": "
	}
	return fmt.Sprintf("%s⏰ #%d: going out at %s (%s) to %s. Type `pause`, or react %s on the card to hold this one.",
		prefix, v.ID, v.At.In(zone).Format("15:04"), Relative(v.At, now), strings.Join(v.Post.Targets, ", "), StopEmoji)
}

// retract takes a published occurrence back on every target that can, and
// returns the reply: each network's answer.
func (h *commands) retract(ctx context.Context, occ int64, who, place string) string {
	r, _ := h.e.Targets.(Retracter)
	can := func(t string) bool { return r != nil && r.CanRetract(t) }
	items, err := h.e.Pauses.BeginRetract(ctx, occ, can, who, place)
	if err != nil {
		if approvals.ErrorCode(err) == approvals.EINTERNAL {
			h.e.Log.Error("retract", "occurrence", occ, "err", err)
		}
		return approvals.ErrorMessage(err)
	}
	for _, it := range items {
		rctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		rerr := r.Retract(rctx, it.Target, it.RemoteID, it.URL)
		cancel()
		if rerr != nil {
			h.e.Log.Warn("retract failed", "occurrence", occ, "target", it.Target, "err", rerr)
		}
		if err := h.e.Pauses.RecordRetract(ctx, it, rerr, who, place); err != nil {
			h.e.Log.Error("record retract", "occurrence", occ, "target", it.Target, "err", err)
		}
	}
	v, err := h.e.Reviews.Occurrence(ctx, occ)
	if err != nil {
		return approvals.ErrorMessage(err)
	}
	lines := []string{fmt.Sprintf("🗑 #%d: retract asked by %s:", occ, who)}
	for _, rt := range v.Retractions {
		lines = append(lines, "  "+retractionLine(rt))
	}
	return strings.Join(lines, "\n")
}

func retractionLine(rt approvals.Retraction) string {
	switch rt.State {
	case approvals.RetractDone:
		return fmt.Sprintf("%s: deleted (retracted by %s)", rt.Target, rt.By)
	case approvals.RetractFailed:
		return fmt.Sprintf("%s: retract failed: %s (asked by %s; `retract N` tries again)", rt.Target, approvals.Clip(rt.Error, 200), rt.By)
	case approvals.RetractUnsupported:
		return fmt.Sprintf("%s: cannot be deleted through heed; delete it by hand", rt.Target)
	}
	return fmt.Sprintf("%s: retract under way (asked by %s)", rt.Target, rt.By)
}

// offerText lists what a retract offer would take back.
func (h *commands) offerText(ctx context.Context, o approvals.RetractOffer) string {
	return RetractOfferText(ctx, h.e.Reviews, h.e.Zone, o)
}

// RetractOfferText lists what a retract offer would take back, and how to
// answer it.
func RetractOfferText(ctx context.Context, svc approvals.ReviewService, zone *time.Location, o approvals.RetractOffer) string {
	window := o.At.Sub(o.Since).Round(time.Minute)
	if len(o.Items) == 0 {
		return fmt.Sprintf("🗑 Nothing published in the last %s is left to retract.", approvals.ShortDuration(window))
	}
	var b strings.Builder
	fmt.Fprintf(&b, "🗑 Retract offer %d by %s: published in the last %s:\n", o.ID, o.By, approvals.ShortDuration(window))
	for _, id := range o.Items {
		v, err := svc.Occurrence(ctx, id)
		if err != nil {
			continue
		}
		var targets []string
		for _, d := range v.Deliveries {
			if d.State == approvals.DeliveryPublished {
				t := d.Target
				if d.URL != "" {
					t += " " + d.URL
				}
				targets = append(targets, t)
			}
		}
		fmt.Fprintf(&b, "  #%d %s → %s: %s\n", id, v.At.In(zone).Format("Mon 15:04"), strings.Join(targets, ", "), oneLine(approvals.Clip(v.Post.Text, 60)))
	}
	fmt.Fprintf(&b, "Nothing is deleted until an approver types `retract confirm` (or `retract cancel`).")
	return b.String()
}

// postOffers announces retract offers made from the CLI in every review room.
func (h *commands) postOffers(ctx context.Context) error {
	if !h.e.Holds(h.e.Rooms[0].Adapter) {
		return nil // the first review room's holder posts them
	}
	offers, err := h.e.Pauses.UnpostedOffers(ctx)
	if err != nil {
		return err
	}
	for _, o := range offers {
		mine, err := h.e.Pauses.MarkOfferPosted(ctx, o.ID)
		if err != nil {
			return err
		}
		if !mine {
			continue // another cycle is posting it
		}
		text := h.offerText(ctx, o)
		for _, r := range h.e.Rooms {
			if h.e.Holds(r.Adapter) {
				_ = h.e.reply(ctx, r, "", text)
			}
		}
	}
	return nil
}

// onSafeguardCommand handles the commands of the timing safeguards:
// allow, sensitive, retract. It reports false for other commands.
func (h *commands) onSafeguardCommand(ctx context.Context, room Room, ev Event, cmd Command, who string) (bool, error) {
	isApprover := func() (bool, string) { return h.e.policyOf(room).IsApprover(ev.User) }
	refuse := func(what, why string) error {
		_ = h.e.Audit.Record(ctx, approvals.AuditEntry{Actor: who, Action: cmd.Name + ".refused", Occurrence: cmd.N, Place: h.e.place(room), Detail: why})
		return h.e.reply(ctx, room, ev.Card, fmt.Sprintf("%s cannot %s: %s. Only approvers can.", who, what, why))
	}
	switch cmd.Name {
	case "allow":
		if ok, why := isApprover(); !ok {
			return true, refuse(fmt.Sprintf("allow #%d off hours", cmd.N), why)
		}
		v, err := h.e.Reviews.AllowOffHours(ctx, cmd.N, who, h.e.place(room))
		if err != nil {
			return true, h.e.replyError(ctx, room, ev.Card, err)
		}
		msg := fmt.Sprintf("#%d may go out outside staffed hours: allowed by %s.", cmd.N, who)
		if v.State == approvals.StateHeld {
			msg += " It is held: approve it again to publish it now."
		}
		return true, h.e.reply(ctx, room, ev.Card, msg)
	case "sensitive":
		return true, h.onSensitive(ctx, room, ev, cmd, who, isApprover, refuse)
	case "retract":
		if ok, why := isApprover(); !ok {
			what := "retract"
			if cmd.N > 0 && cmd.Arg == "" {
				what = fmt.Sprintf("retract #%d", cmd.N)
			}
			return true, refuse(what, why)
		}
		switch cmd.Arg {
		case "confirm", "cancel":
			o, err := h.e.Pauses.DecideOffer(ctx, cmd.N, cmd.Arg == "confirm", who, h.e.place(room))
			if err != nil {
				return true, h.e.replyError(ctx, room, ev.Card, err)
			}
			if cmd.Arg == "cancel" {
				return true, h.e.reply(ctx, room, ev.Card, fmt.Sprintf("Retract offer %d canceled by %s: nothing was deleted.", o.ID, who))
			}
			parts := make([]string, 0, len(o.Items))
			for _, id := range o.Items {
				parts = append(parts, h.retract(ctx, id, who, h.e.place(room)))
			}
			return true, h.e.reply(ctx, room, ev.Card, fmt.Sprintf("Retract offer %d confirmed by %s.\n%s", o.ID, who, strings.Join(parts, "\n")))
		}
		return true, h.e.reply(ctx, room, ev.Card, h.retract(ctx, cmd.N, who, h.e.place(room)))
	}
	return false, nil
}

func (h *commands) onSensitive(ctx context.Context, room Room, ev Event, cmd Command, who string, isApprover func() (bool, string), refuse func(what, why string) error) error {
	g := h.e.Safeguards
	if g == nil || g.Sensitive == nil {
		return h.e.reply(ctx, room, ev.Card, "Sensitive dates are not checked in this heed.")
	}
	if cmd.Arg == "" {
		dates, err := h.e.Reviews.SensitiveDates(ctx)
		if err != nil {
			return h.e.replyError(ctx, room, ev.Card, err)
		}
		if len(dates) == 0 {
			return h.e.reply(ctx, room, ev.Card, "No sensitive days were added in chat. `sensitive 2026-12-01 \"product recall\"` adds one (approvers).")
		}
		var b strings.Builder
		b.WriteString("Sensitive days added in chat:")
		for _, d := range dates {
			fmt.Fprintf(&b, "\n  %s %s (by %s)", d.Date, d.Name, d.AddedBy)
		}
		return h.e.reply(ctx, room, ev.Card, b.String())
	}
	if ok, why := isApprover(); !ok {
		return refuse("add a sensitive day", why)
	}
	entry, err := timing.AdHoc(cmd.Arg, cmd.Reason, who)
	if err != nil {
		return h.e.reply(ctx, room, ev.Card, err.Error()+". Usage: `sensitive 2026-12-01 \"product recall\"` (or MM-DD for every year).")
	}
	if _, err := h.e.Reviews.AddSensitiveDate(ctx, entry.Date, entry.Name, who, h.e.place(room)); err != nil {
		return h.e.replyError(ctx, room, ev.Card, err)
	}
	if err := g.Sensitive.Add(entry); err != nil {
		return h.e.replyError(ctx, room, ev.Card, err)
	}
	if err := h.e.Reviews.RefreshOpen(ctx); err != nil {
		return err
	}
	msg := fmt.Sprintf("📅 %s (%s) is now a sensitive day, added by %s: cards on that day carry a warning", entry.Date, entry.Name, who)
	if n := g.Room(room.Name).SensitiveRequired; n > 1 {
		msg += fmt.Sprintf(" and need %d approvals", n)
	}
	return h.e.reply(ctx, room, ev.Card, msg+".")
}

// retractedAll reports whether every published target of an occurrence
// was retracted, or cannot be.
func retractedAll(v approvals.View) bool {
	done := map[string]bool{}
	for _, rt := range v.Retractions {
		done[rt.Target] = rt.State == approvals.RetractDone || rt.State == approvals.RetractUnsupported
	}
	for _, d := range v.Deliveries {
		if d.State == approvals.DeliveryPublished && !done[d.Target] {
			return false
		}
	}
	return true
}

// timingCard adds what the safeguards say to a card.
func (cs *Cards) timingCard(c *Card, v approvals.View) {
	c.Warnings = append(c.Warnings, v.Timing.Warnings...)
	if off := v.Timing.OffHours; off != "" {
		if v.AllowOffHours != "" {
			c.Warnings = append(c.Warnings, off+"; allowed by "+v.AllowOffHours)
		} else if v.State.Open() {
			c.Warnings = append(c.Warnings, fmt.Sprintf("%s: heed holds it unless an approver types `allow %d off-hours`", off, v.ID))
		}
	}
	for _, rt := range v.Retractions {
		c.Notes = append(c.Notes, "🗑 "+retractionLine(rt))
	}
}

// TripwireStatusKey is where the daemon keeps the tripwire's feed health
// for `heed status`.
const TripwireStatusKey = "tripwire.status"

// TripwireStatus is the tripwire's feed health as last saved.
type TripwireStatus struct {
	At    time.Time    `json:"at"`
	Feeds []FeedHealth `json:"feeds"`
}

// FeedHealth is one feed's health.
type FeedHealth = feedfetch.Status

// ReadTripwireStatus returns the saved feed health, if a daemon saved any.
func ReadTripwireStatus(ctx context.Context, st StateStore) (TripwireStatus, bool, error) {
	raw, err := st.GetKV(ctx, TripwireStatusKey)
	if err != nil || raw == "" {
		return TripwireStatus{}, false, err
	}
	var s TripwireStatus
	if err := json.Unmarshal([]byte(raw), &s); err != nil {
		return TripwireStatus{}, false, err
	}
	return s, true, nil
}

// Lines describes the feeds for status output; failing feeds say why.
func (s TripwireStatus) Lines(zone *time.Location) []string {
	var out []string
	for _, f := range s.Feeds {
		out = append(out, f.Line("tripwire feed", zone, "Publishing is not affected."))
	}
	return out
}
