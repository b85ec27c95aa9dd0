package slack

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	slackapi "github.com/slack-go/slack"

	"github.com/heed-dev/heed/approvals"
	"github.com/heed-dev/heed/bot"
)

// Scheduling from Slack with a form: the message shortcut "Schedule with
// heed" on any message, and `/heed schedule` with no time and targets,
// open a modal (views.open with the interaction's trigger_id) prefilled
// with the message's text or the command's. Its submission
// (view_submission) is checked and stored by the engine on the same path
// as the `schedule` command (bot.Scheduler); what is wrong is shown next
// to the input to fix, and nothing is stored. Both arrive as interactions:
// signed requests in events mode, envelopes over Socket Mode.

const (
	// callbackSchedule is the shortcut's callback_id (in the app
	// manifest) and the modal's.
	callbackSchedule = "heed_schedule"
	// The modal's inputs: each block_id is also its element's action_id.
	blockText    = "text"
	blockTargets = "targets"
	blockDate    = "date"
	blockTime    = "time"
	// maxInputText is plain_text_input's largest max_length.
	maxInputText = 3000
	// triggerBudget bounds the work between an interaction and its
	// views.open: Slack's trigger_id expires after 3 seconds.
	triggerBudget = 2500 * time.Millisecond
)

// interaction is the part of an interactivity payload every kind shares,
// read first to tell them apart.
type interaction struct {
	Type string `json:"type"`
	View struct {
		CallbackID string `json:"callback_id"`
	} `json:"view"`
}

// messageAction is a message shortcut (type message_action), as far as
// heed reads it.
type messageAction struct {
	CallbackID string `json:"callback_id"`
	TriggerID  string `json:"trigger_id"`
	User       struct {
		ID       string `json:"id"`
		Username string `json:"username"`
	} `json:"user"`
	Channel struct {
		ID string `json:"id"`
	} `json:"channel"`
	Message struct {
		Text string `json:"text"`
	} `json:"message"`
	ResponseURL string `json:"response_url"`
}

// modalMeta is the modal's private_metadata: the review channel the post
// goes to and the zone its date and time are read in.
type modalMeta struct {
	Room string `json:"room"`
	Zone string `json:"zone"`
}

// schedRef holds the engine's side of the form while Run hands events to
// it.
type schedRef struct{ s bot.Scheduler }

// scheduler is the engine's side of the form: the one Run hands events to,
// or, on a replica that does not hold the chat, the relay's engine, which
// stores a post as well as the holder's (the holder renders its card).
func (a *Adapter) scheduler() bot.Scheduler {
	if r := a.sched.Load(); r != nil {
		return r.s
	}
	if s, ok := a.relayed().(bot.Scheduler); ok {
		return s
	}
	return nil
}

// interactive answers one interactivity payload: ok is false when it must
// not be acknowledged (the queue is full); resp, when not nil, is the
// answer's body (a view_submission's response_action).
func (a *Adapter) interactive(ctx context.Context, payload []byte) (ok bool, resp any) {
	var kind interaction
	if json.Unmarshal(payload, &kind) != nil {
		return true, nil
	}
	switch kind.Type {
	case "message_action":
		var ma messageAction
		if json.Unmarshal(payload, &ma) == nil && ma.CallbackID == callbackSchedule {
			a.openScheduleModal(ctx, ma.TriggerID, ma.Channel.ID, ma.User.ID, unescape(ma.Message.Text), ma.ResponseURL)
		}
		return true, nil
	case "view_submission":
		if kind.View.CallbackID != callbackSchedule {
			return true, nil
		}
		return true, a.submitSchedule(ctx, payload)
	}
	var ba blockActions
	if json.Unmarshal(payload, &ba) != nil {
		return true, nil
	}
	if in, keys, ok := a.fromBlockActions(ba); ok {
		return a.accept(in, keys), nil
	}
	return true, nil
}

// scheduleText is what `/heed TEXT` gives the modal: ok when TEXT is
// "schedule" alone or followed by words that are not a whole `schedule
// WHEN to TARGETS TEXT` (those schedule as typed, or say what is missing).
func scheduleText(text string) (rest string, ok bool) {
	text = strings.TrimSpace(text)
	first := text
	if i := strings.IndexFunc(text, unicode.IsSpace); i >= 0 {
		first, rest = text[:i], strings.TrimSpace(text[i:])
	}
	if !strings.EqualFold(first, "schedule") {
		return "", false
	}
	if rest == "" {
		return "", true
	}
	if _, isCmd, _ := bot.ParseCommand(text, nil); isCmd {
		return "", false
	}
	return rest, true
}

// modalRoom is the review channel a modal opened in channel posts to:
// that channel when it is one, else the first review channel.
func (a *Adapter) modalRoom(channel string) string {
	if a.isReviewChannel(channel) {
		return channel
	}
	if len(a.cfg.Channels) > 0 {
		return a.cfg.Channels[0].ID
	}
	return a.rooms[0]
}

// openScheduleModal opens the scheduling modal for user with trigger,
// prefilled with text. Its date and time are in the user's Slack zone
// (users.info tz), else the review room's zone; the modal says which.
// When it cannot be opened, the user is told privately (responseURL).
func (a *Adapter) openScheduleModal(ctx context.Context, trigger, channel, user, text, responseURL string) {
	ctx, cancel := context.WithTimeout(ctx, triggerBudget)
	defer cancel()
	fail := func(why string, args ...any) {
		a.log.Warn("could not open the scheduling form: "+why, append([]any{"user", user}, args...)...)
		a.respond(context.WithoutCancel(ctx), responseURL, "heed could not open its scheduling form ("+why+"). Try again, or type `schedule TIME to TARGETS TEXT` in the review channel.")
	}
	s := a.scheduler()
	if s == nil || trigger == "" {
		fail("heed is starting or stopping")
		return
	}
	room := a.modalRoom(channel)
	form, ok := s.ScheduleForm(a.name, room)
	if !ok {
		fail("its review channel is not one of heed's rooms", "room", room)
		return
	}
	zone, whose := form.RoomZone, "the review room's zone: Slack did not say yours"
	if tz := a.userZone(ctx, user); tz != nil {
		zone, whose = tz, "your Slack time zone"
	}
	if zone == nil {
		zone = time.UTC
	}
	view := a.scheduleModal(form, room, zone, whose, text)
	err := a.api.callOnce(ctx, "views.open", func(ctx context.Context) error {
		_, err := a.api.c.OpenViewContext(ctx, trigger, view)
		return err
	})
	if err != nil {
		fail("Slack refused views.open", "err", err)
	}
}

// userZone is user's zone as Slack says (users.info tz), or nil.
func (a *Adapter) userZone(ctx context.Context, user string) *time.Location {
	ctx, cancel := context.WithTimeout(ctx, time.Second)
	defer cancel()
	u, err := a.userQuick(ctx, user)
	if err != nil || u.tz == "" {
		return nil
	}
	z, err := time.LoadLocation(u.tz)
	if err != nil {
		return nil
	}
	return z
}

// scheduleModal is the modal's view: text, targets, date and time, with a
// line saying the zone and where the post goes for approval.
func (a *Adapter) scheduleModal(form bot.ScheduleForm, room string, zone *time.Location, whose, text string) slackapi.ModalViewRequest {
	input := slackapi.NewPlainTextInputBlockElement(plain("What to post"), blockText)
	input.Multiline = true
	input.MaxLength = maxInputText
	if text = strings.TrimSpace(text); text != "" {
		input.InitialValue = clipRunes(text, maxInputText)
	}
	var opts []*slackapi.OptionBlockObject
	for _, t := range form.Targets {
		label := t.Name
		if t.Kind != "" && t.Kind != t.Name {
			label += " (" + t.Kind + ")"
		}
		opts = append(opts, slackapi.NewOptionBlockObject(t.Name, plain(clipRunes(label, 75)), nil))
		if len(opts) == 100 { // Slack's most options in a select
			break
		}
	}
	targets := slackapi.NewOptionsMultiSelectBlockElement(slackapi.MultiOptTypeStatic, plain("Choose targets"), blockTargets, opts...)
	now := a.now().In(zone)
	date := slackapi.NewDatePickerBlockElement(blockDate)
	date.InitialDate = now.AddDate(0, 0, 1).Format(time.DateOnly)
	tp := slackapi.NewTimePickerBlockElement(blockTime)
	tp.InitialTime = "09:00"
	meta, _ := json.Marshal(modalMeta{Room: room, Zone: zone.String()})
	note := fmt.Sprintf("Date and time are in *%s* (%s). The card goes to <#%s>; someone other than you must approve it before it goes out.",
		zone, whose, room)
	return slackapi.ModalViewRequest{
		Type:            slackapi.VTModal,
		CallbackID:      callbackSchedule,
		Title:           plain("Schedule with heed"),
		Submit:          plain("Schedule"),
		Close:           plain("Cancel"),
		PrivateMetadata: string(meta),
		Blocks: slackapi.Blocks{BlockSet: []slackapi.Block{
			slackapi.NewInputBlock(blockText, plain("Text"), nil, input),
			slackapi.NewInputBlock(blockTargets, plain("Targets"), nil, targets),
			slackapi.NewInputBlock(blockDate, plain("Date"), nil, date),
			slackapi.NewInputBlock(blockTime, plain("Time"), nil, tp),
			slackapi.NewContextBlock("zone", slackapi.NewTextBlockObject(slackapi.MarkdownType, note, false, false)),
		}},
	}
}

func clipRunes(s string, n int) string {
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	return string([]rune(s)[:n])
}

// submitSchedule answers a view_submission of the scheduling modal:
// errors next to the inputs to fix, or a response that closes the modal
// once the post is stored.
func (a *Adapter) submitSchedule(ctx context.Context, payload []byte) *slackapi.ViewSubmissionResponse {
	var cb slackapi.InteractionCallback
	if err := json.Unmarshal(payload, &cb); err != nil {
		return fieldError(blockText, "heed could not read this form. Nothing was scheduled.")
	}
	s := a.scheduler()
	if s == nil {
		return fieldError(blockText, "heed is starting or stopping; send the form again in a moment. Nothing was scheduled.")
	}
	var meta modalMeta
	_ = json.Unmarshal([]byte(cb.View.PrivateMetadata), &meta)
	zone, err := time.LoadLocation(meta.Zone)
	if meta.Zone == "" || err != nil {
		zone = nil // the room's
	}
	room := meta.Room
	if room == "" {
		room = a.modalRoom("")
	}
	value := func(block string) slackapi.BlockAction {
		if cb.View.State == nil {
			return slackapi.BlockAction{}
		}
		return cb.View.State.Values[block][block]
	}
	var targets []string
	for _, o := range value(blockTargets).SelectedOptions {
		targets = append(targets, o.Value)
	}
	day, hm := value(blockDate).SelectedDate, value(blockTime).SelectedTime
	readIn := zone
	if readIn == nil {
		if f, ok := s.ScheduleForm(a.name, room); ok && f.RoomZone != nil {
			readIn = f.RoomZone
		} else {
			readIn = time.UTC
		}
	}
	at, err := time.ParseInLocation("2006-01-02 15:04", day+" "+hm, readIn)
	if err != nil {
		if day == "" {
			return fieldError(blockDate, "Pick a date.")
		}
		return fieldError(blockTime, "Pick a time.")
	}
	who := cb.User.ID
	if u, ok := a.cachedUser(cb.User.ID); ok {
		who = "@" + u.name // as the form's opening looked them up
	} else if cb.User.Name != "" {
		who = "@" + cb.User.Name
	}
	_, err = s.SchedulePost(ctx, bot.ScheduleRequest{Adapter: a.name, Room: room, User: cb.User.ID, UserName: who,
		Text: value(blockText).Value, Targets: targets, At: at, Zone: readIn, ID: "modal:" + cb.TriggerID})
	if err == nil {
		return slackapi.NewClearViewSubmissionResponse()
	}
	if approvals.ErrorCode(err) == approvals.EINTERNAL {
		a.log.Error("could not schedule a post from the Slack form", "user", cb.User.ID, "err", err)
	}
	block := blockText
	switch approvals.ErrorField(err) {
	case approvals.FieldTargets:
		block = blockTargets
	case approvals.FieldTime:
		block = blockTime
	}
	return fieldError(block, approvals.ErrorMessage(err)+". Nothing was scheduled.")
}

func fieldError(block, msg string) *slackapi.ViewSubmissionResponse {
	return slackapi.NewErrorsViewSubmissionResponse(map[string]string{block: msg})
}
