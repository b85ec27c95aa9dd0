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
	at, err := approvals.ParseTime(cmd.When, zone.String(), h.e.Now())
	if err != nil {
		return fail(fmt.Sprintf("%q is not a time heed reads: write \"tomorrow 9:00\", \"monday 14:30\", \"2026-12-01 09:00\" (read in %s), \"in 2 hours\", +30m, or RFC 3339.",
			cmd.When, zone))
	}
	_, msg, err := h.e.scheduleFromChat(ctx, room, ev.User, who, text, cmd.Targets, at, zone, fromReply)
	if err != nil {
		if approvals.ErrorCode(err) == approvals.EINTERNAL {
			return h.e.replyError(ctx, room, ev.Card, err)
		}
		return fail(approvals.ErrorMessage(err) + ".")
	}
	return h.e.reply(ctx, room, ev.Card, msg)
}

// scheduleFromChat is where every post scheduled from a chat room is
// checked and stored, typed as `schedule` or sent from a chat's form
// (SchedulePost): user (shown as who) asks for text to go to targets at
// at, read in zone. Its author is the person the configuration's people
// join user to, so that their own reaction never approves it. It returns
// the post and the receipt to say in the room; what is wrong is an
// *approvals.Error naming what to fix (and, in its Field, which input),
// and then nothing is stored.
func (e *Engine) scheduleFromChat(ctx context.Context, room Room, user, who, text string, targets []string,
	at time.Time, zone *time.Location, fromReply bool) (approvals.Post, string, error) {
	now := e.Now()
	author := room.Policy.People.Person(user)
	p, err := e.Posts.AddPost(ctx, approvals.NewPost{
		Text: text, Targets: targets, Author: author, Room: room.Name,
		Schedule: approvals.Schedule{At: at, TZ: zone.String()},
		Source:   fmt.Sprintf("chat: scheduled by %s in %s", who, room.Name),
	}, who, e.place(room))
	if err != nil {
		return p, "", err
	}
	// Its card is posted by the render pass that follows, as soon as the
	// post is within the review window. The post is stored: if its
	// occurrence cannot be made now, the next cycle makes it.
	var occs []approvals.Occurrence
	if _, err := e.Posts.Materialize(ctx); err != nil {
		e.Log.Warn("schedule: the post is stored, its occurrence waits for the next cycle", "post", p.ID, "err", err)
	} else if occs, err = e.Reviews.Occurrences(ctx, p.ID, 1); err != nil {
		e.Log.Warn("schedule: could not read the post's occurrence back", "post", p.ID, "err", err)
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
	return p, msg, nil
}

// ScheduleRequest is a post a person schedules through a chat's form
// (Slack's modal) rather than by typing `schedule`.
type ScheduleRequest struct {
	Adapter  string // the chat's name
	Room     string // the review room's id in that chat
	User     string // who schedules it: their chat identity
	UserName string // how they are shown ("@alice"); User if empty
	Text     string
	Targets  []string
	At       time.Time
	Zone     *time.Location // the zone the time was picked in; the room's if nil
	// ID names this submission of the form: a second request with the
	// same ID (a replay) stores nothing and is refused.
	ID string
}

// ScheduleForm is what a chat's form needs to ask for a post: the
// targets there are to choose from, and the room's zone.
type ScheduleForm struct {
	Targets  []FormTarget
	RoomZone *time.Location
}

// FormTarget is a target as a form offers it.
type FormTarget struct {
	Name string
	Kind string // mastodon, bluesky, x, ...
}

// Scheduler is the engine's side of a chat's scheduling form. bot.Engine
// implements it.
type Scheduler interface {
	// ScheduleForm describes the form for a review room, false when the
	// room is not one.
	ScheduleForm(adapter, room string) (ScheduleForm, bool)
	// SchedulePost checks and stores the post the way `schedule` does,
	// and says the same receipt in the room. What is wrong with it is an
	// *approvals.Error whose Field (approvals.ErrorField) names the input
	// to fix; nothing is stored then.
	SchedulePost(ctx context.Context, req ScheduleRequest) (approvals.Post, error)
}

var _ Scheduler = (*Engine)(nil)

// ScheduleForm implements Scheduler.
func (e *Engine) ScheduleForm(adapter, id string) (ScheduleForm, bool) {
	if e.init() != nil {
		return ScheduleForm{}, false
	}
	room, ok := e.roomByID(adapter, id)
	if !ok {
		return ScheduleForm{}, false
	}
	f := ScheduleForm{RoomZone: e.roomZone(room)}
	for _, n := range e.Targets.Names() {
		f.Targets = append(f.Targets, FormTarget{Name: n, Kind: e.Targets.Kind(n)})
	}
	return f, true
}

// SchedulePost implements Scheduler.
func (e *Engine) SchedulePost(ctx context.Context, req ScheduleRequest) (approvals.Post, error) {
	if err := e.init(); err != nil {
		return approvals.Post{}, err
	}
	room, ok := e.roomByID(req.Adapter, req.Room)
	if !ok {
		return approvals.Post{}, approvals.Errorf(approvals.EINVALID, "%s is not one of heed's review rooms", req.Room)
	}
	who := req.UserName
	if who == "" {
		who = req.User
	}
	ctx = approvals.WithActing(ctx, approvals.Acting{Name: who, Identity: req.User, Person: room.Policy.People.Of(req.User)})
	if req.ID != "" {
		first, err := e.Claim(ctx, req.Adapter, req.ID)
		if err != nil {
			return approvals.Post{}, err
		}
		if !first {
			return approvals.Post{}, approvals.Errorf(approvals.ECONFLICT, "this form was sent already; nothing more was scheduled")
		}
	}
	zone := req.Zone
	if zone == nil {
		zone = e.roomZone(room)
	}
	p, msg, err := e.scheduleFromChat(ctx, room, req.User, who, req.Text, req.Targets, req.At, zone, false)
	if err != nil {
		return p, err
	}
	// The receipt goes out with the render pass, ahead of the card:
	// a form wants its answer at once.
	e.cards.announce(room, "", msg)
	return p, nil
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
