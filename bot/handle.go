package bot

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/heed-dev/heed/approvals"
)

// commands answers what people do in a review room: the commands they
// type, their reactions on cards, and the safeguards' replies (last calls,
// retract offers).
type commands struct {
	e *Engine

	rmu sync.Mutex
	// unsent holds, by occurrence, when a reminder the chat refused may be
	// tried again, so that a chat that is down gets no retry (and no
	// audit line) at every cycle.
	unsent map[int64]time.Time
}

func (h *commands) onMessage(ctx context.Context, room Room, ev Event) error {
	if ev.FromSelf || ev.FromBot {
		return nil // heed's own receipts, and other bots, never command it
	}
	cmd, isCmd, perr := ParseCommand(ev.Text, h.e.Targets.Known)
	if !isCmd {
		return nil
	}
	who := ev.UserName
	if who == "" {
		who = ev.User
	}
	if perr != nil {
		return h.e.reply(ctx, room, ev.Card, perr.Error())
	}
	isApprover := func() (bool, string) { return h.e.policyOf(room).IsApprover(ev.User) }
	if handled, err := h.onSafeguardCommand(ctx, room, ev, cmd, who); handled {
		return err
	}
	switch cmd.Name {
	case "pause":
		rc, err := h.e.Pauses.PauseAll(ctx, who, cmd.Target, cmd.Reason, h.e.place(room))
		if err != nil {
			return h.e.replyError(ctx, room, ev.Card, err)
		}
		h.e.cards.ownPauses(rc.Pause.ID)
		if err := h.e.reply(ctx, room, ev.Card, PauseReceipt(rc)); err != nil || cmd.Window == 0 {
			return err
		}
		// pause retract 2h: offer to take back what went out in the window.
		o, err := h.e.Pauses.OfferRetract(ctx, cmd.Window, who, cmd.Reason, h.e.place(room))
		if err != nil {
			return h.e.replyError(ctx, room, ev.Card, err)
		}
		if o.ID != 0 {
			if _, err := h.e.Pauses.MarkOfferPosted(ctx, o.ID); err != nil {
				return err
			}
		}
		return h.e.reply(ctx, room, ev.Card, h.offerText(ctx, o))
	case "resume":
		if ok, why := isApprover(); !ok {
			_ = h.e.Audit.Record(ctx, approvals.AuditEntry{Actor: who, Action: "resume.refused", Target: cmd.Target, Place: h.e.place(room), Detail: why})
			return h.e.reply(ctx, room, ev.Card, fmt.Sprintf("%s cannot resume: %s. Only approvers can resume; anyone can pause.", who, why))
		}
		rc, err := h.e.Pauses.Resume(ctx, who, cmd.Target, h.e.place(room))
		if err != nil {
			return h.e.replyError(ctx, room, ev.Card, err)
		}
		for _, p := range rc.Resumed {
			h.e.cards.ownPauses(p.ID)
		}
		if h.e.Wake != nil {
			h.e.Wake()
		}
		return h.e.reply(ctx, room, ev.Card, ResumeReceipt(who, rc))
	case "status":
		return h.e.reply(ctx, room, ev.Card, h.statusText(ctx))
	case "queue":
		return h.e.reply(ctx, room, ev.Card, h.queueText(ctx))
	case "help":
		return h.e.reply(ctx, room, ev.Card, HelpText)
	case "schedule":
		return h.schedule(ctx, room, ev, cmd, who)
	case "cancel", "delay", "resolve":
		if cmd.All {
			return h.resolveAll(ctx, room, ev, cmd, who, isApprover)
		}
		v, err := h.e.Reviews.Occurrence(ctx, cmd.N)
		if err != nil {
			return h.e.replyError(ctx, room, ev.Card, err)
		}
		if ok, why := isApprover(); !ok && !(cmd.Name != "resolve" && h.e.policyOf(room).People.Same(v.Post.Author, ev.User)) {
			return h.e.reply(ctx, room, ev.Card, fmt.Sprintf("%s cannot %s #%d: %s", who, cmd.Name, cmd.N, why))
		}
		var msg string
		switch cmd.Name {
		case "cancel":
			err = h.e.Reviews.CancelOccurrence(ctx, cmd.N, who, h.e.place(room))
			msg = fmt.Sprintf("#%d canceled by %s.", cmd.N, who)
		case "delay":
			var nv approvals.View
			nv, err = h.e.Reviews.Delay(ctx, cmd.N, cmd.Delay, who, h.e.place(room))
			msg = fmt.Sprintf("#%d moved to %s by %s; it needs a fresh approval.", cmd.N, nv.At.In(h.e.Zone).Format("Mon 2 Jan 15:04 MST"), who)
		case "resolve":
			err = h.e.Deliveries.Resolve(ctx, cmd.N, "", cmd.Arg == "published", cmd.URL, who, h.e.place(room))
			msg = fmt.Sprintf("#%d resolved as %s by %s.", cmd.N, cmd.Arg, who)
		}
		if err != nil {
			return h.e.replyError(ctx, room, ev.Card, err)
		}
		return h.e.reply(ctx, room, ev.Card, msg)
	}
	return nil
}

// PauseReceipt is the bot's answer to a pause.
func PauseReceipt(rc approvals.PauseReceipt) string {
	scope := "all publishing"
	if rc.Pause.Target != "" {
		scope = "publishing to " + rc.Pause.Target
	}
	s := fmt.Sprintf("⏸ Paused %s. By %s, reason: %s. %d upcoming occurrence(s) now held back: none goes out until an approver types `resume`, and each then needs a fresh decision.",
		scope, rc.Pause.By, reasonOr(rc.Pause.Reason), rc.Waiting)
	if rc.Pause.By == TripwireActor {
		s = fmt.Sprintf("⏸ The news tripwire paused %s by itself, because of %s. %d upcoming occurrence(s) now held back: none goes out until an approver types `resume`, and each then needs a fresh decision.",
			scope, reasonOr(rc.Pause.Reason), rc.Waiting)
	}
	if rc.Publishing > 0 {
		s += fmt.Sprintf(" %d publish call(s) already under way finish; nothing new starts.", rc.Publishing)
	}
	return s
}

// ResumeReceipt is the bot's answer to a resume.
func ResumeReceipt(who string, rc approvals.ResumeReceipt) string {
	s := fmt.Sprintf("▶ Resumed by %s.", who)
	if len(rc.Held) > 0 {
		ids := make([]string, len(rc.Held))
		for i, id := range rc.Held {
			ids[i] = fmt.Sprintf("#%d", id)
		}
		s += fmt.Sprintf(" Held during the pause: %s. None goes out by itself: approve each again to publish now, `delay N 1h`, or `cancel N`.", strings.Join(ids, ", "))
	}
	return s
}

func reasonOr(r string) string {
	if r == "" {
		return "none given"
	}
	return r
}

func (h *commands) statusText(ctx context.Context) string {
	var b strings.Builder
	pauses, err := h.e.Pauses.ActivePauses(ctx)
	if err != nil {
		return approvals.ErrorMessage(err)
	}
	if len(pauses) == 0 {
		b.WriteString("▶ Not paused.")
	}
	for _, p := range pauses {
		scope := "everything"
		if p.Target != "" {
			scope = p.Target
		}
		fmt.Fprintf(&b, "⏸ %s paused by %s at %s: %s\n", scope, p.By, p.At.In(h.e.Zone).Format("Mon 15:04"), reasonOr(p.Reason))
	}
	if why := h.e.Deaf(h.e.Now()); why != "" {
		b.WriteString("\n⚠ publishing holds: " + why)
	}
	if tw, ok, err := ReadTripwireStatus(ctx, h.e.State); err == nil && ok {
		for _, line := range tw.Lines(h.e.Zone) {
			b.WriteString("\n" + line)
		}
	}
	counts, err := h.e.Reviews.Counts(ctx)
	if err == nil {
		var parts []string
		for _, st := range approvals.States {
			if counts[st] > 0 {
				parts = append(parts, fmt.Sprintf("%s %d", st, counts[st]))
			}
		}
		if len(parts) > 0 {
			b.WriteString("\n" + strings.Join(parts, " · "))
		}
	}
	return strings.TrimSpace(b.String())
}

func (h *commands) queueText(ctx context.Context) string {
	q, err := h.e.Reviews.Queue(ctx, 15)
	if err != nil {
		return approvals.ErrorMessage(err)
	}
	if len(q) == 0 {
		return "The queue is empty."
	}
	now := h.e.Now()
	var b strings.Builder
	for _, s := range q {
		fmt.Fprintf(&b, "#%d %s %s (%s) → %s: %s\n", s.ID, s.State, s.At.In(h.e.Zone).Format("Mon 2 Jan 15:04"), Relative(s.At, now),
			strings.Join(s.Targets, ", "), oneLine(approvals.Clip(s.Text, 60)))
	}
	return strings.TrimRight(b.String(), "\n")
}

// cardOccurrence finds the occurrence of a card. A reaction can arrive
// before this engine's cycle posted a card just added from elsewhere (the
// CLI): cards are brought up to date once before giving up.
func (h *commands) cardOccurrence(ctx context.Context, ev Event) (int64, bool, error) {
	occ, ok, err := h.e.Reviews.CardOccurrence(ctx, ev.Adapter, ev.Room, string(ev.Card))
	if err != nil || ok {
		return occ, ok, err
	}
	if err := h.e.RunOnce(ctx); err != nil {
		return 0, false, err
	}
	return h.e.Reviews.CardOccurrence(ctx, ev.Adapter, ev.Room, string(ev.Card))
}

func (h *commands) onReaction(ctx context.Context, room Room, ev Event) error {
	occ, ok, err := h.cardOccurrence(ctx, ev)
	if err != nil {
		return err
	}
	emoji, _ := approvals.NormalizeEmoji(ev.Emoji)
	if retract := emoji == RetractEmoji && !ev.FromBot && !ev.FromSelf; !ok || retract {
		if dup, err := h.e.seen(ctx, room, ev); err != nil || dup || !ok {
			return err
		}
		return h.onRetractReaction(ctx, room, ev, occ)
	}
	res, err := h.e.Reviews.React(ctx, approvals.ReactionInput{
		Occurrence: occ, User: ev.User, UserName: ev.UserName, Emoji: ev.Emoji,
		FromBot: ev.FromBot, FromSelf: ev.FromSelf, ReactionID: ev.ReactionID,
		Source: h.e.place(room), At: ev.At,
		EventAdapter: ev.Adapter, EventID: ev.ID, PresenceRoom: room.Name,
	})
	if err != nil {
		if code := approvals.ErrorCode(err); code != approvals.EINTERNAL {
			// Name the card and the reaction: the reply may be read far
			// from the card.
			err = approvals.Errorf(code, "#%d: %s from %s was not recorded: %s", occ, ev.Emoji, displayName(ev), approvals.ErrorMessage(err))
		}
		return h.e.replyError(ctx, room, ev.Card, err)
	}
	if res.Duplicate {
		return nil
	}
	if res.View.ID != 0 {
		h.e.cards.queueView(res.View)
	}
	if res.Changed && h.e.Wake != nil {
		h.e.Wake()
	}
	if res.Held {
		who := ev.UserName
		if who == "" {
			who = ev.User
		}
		return h.e.reply(ctx, room, ev.Card, fmt.Sprintf("%s #%d is held by %s. It needs a fresh decision: approve it again, `delay %d 1h`, or `cancel %d`.", StopEmoji, occ, who, occ, occ))
	}
	return nil
}

// onRetractReaction: 🗑 from an approver on a published card takes it back.
func (h *commands) onRetractReaction(ctx context.Context, room Room, ev Event, occ int64) error {
	who := ev.UserName
	if who == "" {
		who = ev.User
	}
	if ok, why := h.e.policyOf(room).IsApprover(ev.User); !ok {
		_ = h.e.Audit.Record(ctx, approvals.AuditEntry{Actor: who, Action: "retract.refused", Occurrence: occ, Place: h.e.place(room), Detail: why})
		return h.e.reply(ctx, room, ev.Card, fmt.Sprintf("%s from %s does nothing: only approvers can retract (%s).", RetractEmoji, who, why))
	}
	return h.e.reply(ctx, room, ev.Card, h.retract(ctx, occ, who, h.e.place(room)))
}

func (h *commands) onUnreaction(ctx context.Context, room Room, ev Event) error {
	in := approvals.UnreactionInput{User: ev.User, UserName: ev.UserName, Emoji: ev.Emoji, ReactionID: ev.ReactionID, Source: h.e.place(room), At: ev.At}
	if ev.Card != "" {
		occ, ok, err := h.cardOccurrence(ctx, ev)
		if err != nil || !ok {
			return err
		}
		in.Occurrence = occ
	} else if ev.ReactionID == "" {
		return nil
	}
	_, err := h.e.Reviews.Unreact(ctx, in)
	return err
}

// resolveAll settles every occurrence whose outcome is unknown as cmd.Arg
// says (after a crash left several), or those due before cmd.Before, for
// an approver; each is audited. A time heed cannot read changes nothing.
func (h *commands) resolveAll(ctx context.Context, room Room, ev Event, cmd Command, who string, isApprover func() (bool, string)) error {
	if ok, why := isApprover(); !ok {
		return h.e.reply(ctx, room, ev.Card, fmt.Sprintf("%s cannot resolve: %s", who, why))
	}
	var before time.Time
	if cmd.Before != "" {
		t, err := approvals.ParseBefore(cmd.Before, h.e.Zone.String(), h.e.Now())
		if err != nil {
			return h.e.reply(ctx, room, ev.Card, fmt.Sprintf("resolve all %s before: %s. Nothing was resolved.", cmd.Arg, approvals.ErrorMessage(err)))
		}
		before = t
	}
	queue, err := h.e.Reviews.Queue(ctx, 1_000_000)
	if err != nil {
		return h.e.replyError(ctx, room, ev.Card, err)
	}
	due := ""
	if !before.IsZero() {
		due = " due before " + before.In(h.e.Zone).Format("Mon 2 Jan 2006 15:04 MST")
	}
	var done []string
	for _, id := range approvals.Unresolved(queue, before) {
		if err := h.e.Deliveries.Resolve(ctx, id, "", cmd.Arg == "published", "", who, h.e.place(room)); err != nil {
			return h.e.replyError(ctx, room, ev.Card, err)
		}
		done = append(done, "#"+strconv.FormatInt(id, 10))
	}
	if len(done) == 0 {
		return h.e.reply(ctx, room, ev.Card, "No occurrence"+due+" has an unknown outcome.")
	}
	return h.e.reply(ctx, room, ev.Card, fmt.Sprintf("%s resolved as %s by %s.", strings.Join(done, ", "), cmd.Arg, who))
}
