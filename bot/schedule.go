package bot

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/heed-dev/heed/approvals"
)

// schedule answers `schedule WHEN to T1,T2 TEXT`, or the same command sent
// as a reply to a message without TEXT, which takes that message's text.
// The post is the chat user's: its author is the person the configuration's
// people join their chat identity to, so their own reaction never approves
// it. What is wrong with it gets an answer naming what to fix, and nothing
// is stored; a post it makes gets its card as any other post does.
func (h *commands) schedule(ctx context.Context, room Room, ev Event, cmd Command, who string) error {
	fail := func(msg string) error {
		return h.e.reply(ctx, room, ev.Card, "schedule: "+msg+" Nothing was scheduled.")
	}
	text, fromReply := cmd.Text, false
	if text == "" && ev.ReplyTo != "" {
		r, ok := h.e.adapter(room.Adapter).(MessageReader)
		if !ok {
			return fail("this chat cannot read back the message replied to: write the text after the targets.")
		}
		t, err := r.MessageText(ctx, room.ID, ev.ReplyTo)
		if err != nil {
			h.e.Log.Warn("schedule: cannot read the message replied to", "adapter", room.Adapter, "message", ev.ReplyTo, "err", err)
			return fail("heed could not read the message replied to (" + err.Error() + "): write the text after the targets.")
		}
		text, fromReply = t, true
	}
	if strings.TrimSpace(text) == "" {
		if fromReply {
			return fail("the message replied to has no text to post.")
		}
		return fail("there is no text to post: write it after the targets, or send the command as a reply to the message to post. " + usage(cmd.Name))
	}
	zone := h.e.roomZone(room)
	now := h.e.Now()
	at, err := approvals.ParseTime(cmd.When, zone.String(), now)
	if err != nil {
		return fail(fmt.Sprintf("%q is not a time heed reads: write \"tomorrow 9:00\", \"monday 14:30\", \"2026-12-01 09:00\" (read in %s), \"in 2 hours\", +30m, or RFC 3339.",
			cmd.When, zone))
	}
	author := room.Policy.People.Person(ev.User)
	p, err := h.e.Posts.AddPost(ctx, approvals.NewPost{
		Text: text, Targets: cmd.Targets, Author: author, Room: room.Name,
		Schedule: approvals.Schedule{At: at, TZ: zone.String()},
		Source:   fmt.Sprintf("chat: scheduled by %s in %s", who, room.Name),
	}, who, h.e.place(room))
	if err != nil {
		if approvals.ErrorCode(err) == approvals.EINTERNAL {
			return h.e.replyError(ctx, room, ev.Card, err)
		}
		return fail(approvals.ErrorMessage(err) + ".")
	}
	// Its card is posted by the render pass that follows this event, as
	// soon as the post is within the review window.
	if _, err := h.e.Posts.Materialize(ctx); err != nil {
		return err
	}
	occs, err := h.e.Reviews.Occurrences(ctx, p.ID, 1)
	if err != nil {
		return err
	}
	msg := fmt.Sprintf("📝 #%d scheduled from chat by %s for %s (%s) → %s",
		p.ID, who, at.In(zone).Format("Mon 2 Jan 15:04 MST"), Relative(at, now), strings.Join(p.Targets, ", "))
	if fromReply {
		msg += ", with the text of the message replied to"
	}
	msg += fmt.Sprintf(". It goes out only once someone other than %s approves it", who)
	if len(occs) > 0 {
		msg += ": its card follows."
	} else {
		msg += ": its card is posted once its time is within the review window."
	}
	return h.e.reply(ctx, room, ev.Card, msg)
}

// roomZone is the zone of a room's messages and of the times typed in it:
// the room's own, else the team's.
func (e *Engine) roomZone(room Room) *time.Location {
	if e.Safeguards != nil {
		if z := e.Safeguards.Room(room.Name).Zone; z != nil {
			return z
		}
	}
	return e.Zone
}
