package bot

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/heed-dev/heed/approvals"
	"github.com/heed-dev/heed/approvals/timing"
)

// GroupMentioner is implemented by adapters whose chat can mention a group
// of people by its id (a Slack user group's <!subteam^S0123>), for a room's
// escalate_to.
type GroupMentioner interface {
	// MentionGroup returns the mention of group, and false when group is
	// no group id of this chat.
	MentionGroup(group string) (string, bool)
}

// LevelMembers is implemented by adapters whose rooms rank people by power
// level (Matrix), for a room's escalate_to.
type LevelMembers interface {
	// MembersAtLevel lists the users of room at or above level, as the
	// chat last said, and false while it has not been read yet.
	MembersAtLevel(room string, level int) ([]string, bool)
}

// reminders replies in the thread of every occurrence still in review
// (the state the reaction's own transaction and the render pass before
// keep current) whose room's approve_by has come, mentioning the approvers who have not
// approved it: once per slot (timing.ReminderSlot), across restarts and
// processes, since each is claimed in the store before it is sent. A slot
// that comes outside the room's staffed hours waits for the next staffed
// moment before the occurrence's time; slots that passed unsent fold into
// the one of that moment. The last reminder before the time also mentions
// the room's escalate_to.
func (h *commands) reminders(ctx context.Context) error {
	g := h.e.Safeguards
	if g == nil {
		return nil
	}
	var horizon time.Duration
	for _, r := range g.Rooms {
		horizon = max(horizon, r.ApproveBy)
	}
	if horizon <= 0 {
		return nil
	}
	now := h.e.Now()
	due, err := h.e.Reviews.RemindersDue(ctx, now, horizon)
	if err != nil {
		return err
	}
	for _, d := range due {
		room := h.e.room(d.Room)
		rs := g.Room(room.Name)
		slot, last, ok := timing.ReminderSlot(d.At, now, rs.ApproveBy, rs.RemindEvery)
		if !ok || slot <= d.LastSlot {
			continue
		}
		if staffed, _ := rs.Hours.Staffed(now); !staffed {
			continue
		}
		if h.retryLater(d.Occurrence, now) {
			continue
		}
		v, err := h.e.Reviews.Occurrence(ctx, d.Occurrence)
		if err != nil {
			return err
		}
		ref, ok, err := h.e.Reviews.Card(ctx, v.ID, room.Adapter, room.ID)
		if err != nil {
			return err
		}
		if !ok {
			continue
		}
		who := h.e.cards.mentions(room, h.e.cards.undecided(ctx, v, room))
		var esc []string
		if last {
			esc = h.e.cards.escalation(room, rs.EscalateTo)
		}
		text := ReminderText(v, now, g.RoomZone(rs), room.Policy.WithDefaults(), last, who, esc)
		r := approvals.Reminder{Occurrence: v.ID, PostID: v.Post.ID, At: v.At, Slot: slot, Place: h.e.place(room),
			Detail: reminderDetail(slot, last, who, esc)}
		claimed, err := h.e.Reviews.ClaimReminder(ctx, r)
		if err != nil {
			return err
		}
		if !claimed {
			continue
		}
		if err := h.e.adapter(room.Adapter).Reply(ctx, room.ID, MessageRef(ref.Ref), text); err != nil {
			h.e.Log.Warn("reminder not sent; will retry", "occurrence", v.ID, "in", remindRetry, "err", err)
			h.rmu.Lock()
			if h.unsent == nil {
				h.unsent = map[int64]time.Time{}
			}
			h.unsent[v.ID] = now.Add(remindRetry)
			h.rmu.Unlock()
			if err := h.e.Reviews.ReleaseReminder(ctx, r, err.Error()); err != nil {
				return err
			}
		}
	}
	return nil
}

// remindRetry is how long heed waits before it sends again a reminder the
// chat refused.
const remindRetry = time.Minute

// retryLater reports whether a reminder of occ that the chat refused must
// wait still; it forgets one whose wait is over.
func (h *commands) retryLater(occ int64, now time.Time) bool {
	h.rmu.Lock()
	defer h.rmu.Unlock()
	until, ok := h.unsent[occ]
	if ok && !now.Before(until) {
		delete(h.unsent, occ)
	}
	return ok && now.Before(until)
}

// ReminderText asks the people who have not approved an occurrence to
// decide on it before its time; at the last reminder it addresses the
// escalation too.
func ReminderText(v approvals.View, now time.Time, zone *time.Location, p approvals.Policy, last bool, who, escalate []string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "⏳ #%d still needs approval: it goes out at %s (%s) to %s only if approved",
		v.ID, v.At.In(zone).Format("Mon 15:04"), Relative(v.At, now), strings.Join(v.Post.Targets, ", "))
	if n := len(v.Verdict.Approvals); n > 0 {
		fmt.Fprintf(&b, " (%d of %d approvals so far)", n, v.Verdict.Required)
	}
	fmt.Fprintf(&b, ". React %s on the card to approve, or %s to reject.",
		strings.Join(p.ApproveEmoji, " or "), strings.Join(p.RejectEmoji, " or "))
	if last {
		b.WriteString(" This is the last reminder before its time.")
	}
	text := address(who, b.String())
	if len(escalate) > 0 {
		text += "\nEscalating to " + strings.Join(escalate, " ") + ": please decide, or ask someone who may."
	}
	return text
}

// reminderDetail is a reminder's audit line.
func reminderDetail(slot int, last bool, who, escalate []string) string {
	d := fmt.Sprintf("reminder %d", slot+1)
	if last {
		d += " (the last before its time)"
	}
	if len(who) > 0 {
		d += "; mentioned " + strings.Join(who, " ")
	} else {
		d += "; addressed the approvers"
	}
	if len(escalate) > 0 {
		d += "; escalated to " + strings.Join(escalate, " ")
	}
	return d
}

// undecided lists who may approve an occurrence and has not approved it:
// the approvers a reminder mentions.
func (cs *Cards) undecided(ctx context.Context, v approvals.View, room Room) []string {
	people := room.Policy.People
	return slices.DeleteFunc(cs.approvers(ctx, v, room), func(id string) bool {
		return slices.ContainsFunc(v.Verdict.Approvals, func(r approvals.Reaction) bool { return people.Same(id, r.User) })
	})
}

// escalation returns the mentions of a room's escalate_to, in its order:
// a power level (digits) names the users at or above it, a group id is the
// chat's group mention, anything else a person or a user id.
func (cs *Cards) escalation(room Room, to []string) []string {
	a := cs.e.adapter(room.Adapter)
	var out []string
	add := func(ms ...string) {
		for _, m := range ms {
			if !slices.Contains(out, m) {
				out = append(out, m)
			}
		}
	}
	for _, t := range to {
		if level, err := strconv.Atoi(t); err == nil {
			lm, ok := a.(LevelMembers)
			var users []string
			if ok {
				users, ok = lm.MembersAtLevel(room.ID, level)
			}
			if !ok {
				cs.e.Log.Warn("escalate_to: the chat does not say who is at this power level", "room", room.Name, "level", level)
				continue
			}
			add(cs.mentions(room, users)...)
			continue
		}
		if gm, ok := a.(GroupMentioner); ok {
			if m, ok := gm.MentionGroup(t); ok {
				add(m)
				continue
			}
		}
		add(cs.mentions(room, []string{t})...)
	}
	return out
}
