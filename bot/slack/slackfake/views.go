package slackfake

import (
	"encoding/json"
	"fmt"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"
)

// Modals: every interaction the fake sends (a shortcut, a slash command, a
// button press, a view submission) carries a trigger_id, which views.open
// takes once, within 3 seconds of the fake's clock, as Slack does. The
// fake keeps each view it opened; a test fills its inputs and submits it
// as the user (view_submission, signed like any interaction over HTTP),
// then reads the app's answer: errors next to inputs keep the view open,
// anything else closes it.

// triggerTTL is how long a trigger_id can open a view.
const triggerTTL = 3 * time.Second

type trigger struct {
	user string
	at   time.Time
	used bool
}

// View is a modal the app opened, as the fake holds it.
type View struct {
	ID              string
	User            string // whose trigger opened it
	CallbackID      string
	PrivateMetadata string
	Title           string
	Blocks          json.RawMessage
	Hash            string
	Open            bool // false once a submission closed it
	// Errors are the app's answer to the last submission, by block_id.
	Errors map[string]string

	f *Fake
}

type viewState struct {
	View
	raw map[string]any // the view as views.open sent it
}

// issueTriggerLocked returns a new trigger_id for an interaction of user.
func (f *Fake) issueTriggerLocked(user string) string {
	n := f.nextSeqLocked()
	id := fmt.Sprintf("%d.%d.fake%08x", n, n, n)
	if f.triggers == nil {
		f.triggers = map[string]*trigger{}
	}
	f.triggers[id] = &trigger{user: user, at: f.opt.Now()}
	return id
}

// viewsOpenLocked answers views.open (errors as Slack documents them).
func (f *Fake) viewsOpenLocked(p url.Values) any {
	id := p.Get("trigger_id")
	if id == "" {
		return apiError("invalid_arguments")
	}
	tr := f.triggers[id]
	switch {
	case tr == nil:
		return apiError("invalid_trigger_id")
	case tr.used:
		return apiError("exchanged_trigger_id")
	case f.opt.Now().Sub(tr.at) > triggerTTL:
		return apiError("expired_trigger_id")
	}
	var raw map[string]any
	if json.Unmarshal([]byte(p.Get("view")), &raw) != nil || raw["type"] != "modal" {
		return apiError("invalid_arguments")
	}
	title, _ := raw["title"].(map[string]any)
	titleText, _ := title["text"].(string)
	blocks, _ := raw["blocks"].([]any)
	meta, _ := raw["private_metadata"].(string)
	cbID, _ := raw["callback_id"].(string)
	if titleText == "" || len([]rune(titleText)) > 24 || len(blocks) > 100 || len(meta) > 3000 || len(cbID) > 255 {
		return apiError("invalid_arguments")
	}
	tr.used = true
	n := f.nextSeqLocked()
	b, _ := json.Marshal(blocks)
	v := &viewState{raw: raw, View: View{ID: fmt.Sprintf("V%010d", n), User: tr.user, CallbackID: cbID,
		PrivateMetadata: meta, Title: titleText, Blocks: b, Hash: fmt.Sprintf("%d.fakehash%d", n, n), Open: true}}
	if f.views == nil {
		f.views = map[string]*viewState{}
	}
	f.views[v.ID] = v
	f.viewOrder = append(f.viewOrder, v.ID)
	return map[string]any{"ok": true, "view": f.viewJSONLocked(v, nil)}
}

// viewJSONLocked is a view as Slack shows it to the app, with state.
func (f *Fake) viewJSONLocked(v *viewState, values map[string]any) map[string]any {
	if values == nil {
		values = map[string]any{}
	}
	out := map[string]any{"close": nil, "submit": nil} // null when the app gave none
	for k, x := range v.raw {
		out[k] = x
	}
	for k, x := range map[string]any{"id": v.ID, "team_id": f.opt.TeamID, "state": map[string]any{"values": values},
		"hash": v.Hash, "private_metadata": v.PrivateMetadata, "callback_id": v.CallbackID,
		"clear_on_close": false, "notify_on_close": false, "previous_view_id": nil, "root_view_id": v.ID,
		"app_id": f.opt.AppID, "external_id": "", "app_installed_team_id": f.opt.TeamID, "bot_id": f.opt.BotID} {
		out[k] = x
	}
	return out
}

func (f *Fake) viewSnapshotLocked(v *viewState) View {
	s := v.View
	s.Blocks = slices.Clone(v.Blocks)
	s.f = f
	return s
}

// Views lists the views the app opened, oldest first.
func (f *Fake) Views() []View {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []View
	for _, id := range f.viewOrder {
		out = append(out, f.viewSnapshotLocked(f.views[id]))
	}
	return out
}

// ExpectView waits until the app has opened a view for which ok is true
// (nil: any) and returns it.
func (f *Fake) ExpectView(tb testing.TB, ok func(View) bool) View {
	tb.Helper()
	var got View
	if !f.waitFor(func() bool {
		for _, id := range f.viewOrder {
			if v := f.viewSnapshotLocked(f.views[id]); ok == nil || ok(v) {
				got = v
				return true
			}
		}
		return false
	}) {
		tb.Fatalf("slackfake: waited %v for the app to open a view", f.opt.Wait)
	}
	return got
}

// Refresh returns the view as the fake holds it now.
func (v View) Refresh() View {
	v.f.mu.Lock()
	defer v.f.mu.Unlock()
	return v.f.viewSnapshotLocked(v.f.views[v.ID])
}

// Input is one input block of a view: its element and what it holds
// before the user changes anything.
type Input struct {
	BlockID  string
	ActionID string
	Type     string // plain_text_input, multi_static_select, datepicker, timepicker, ...
	Label    string
	Initial  string   // initial_value, initial_date or initial_time
	Options  []string // the values a select offers
	Selected []string // a select's initial options
	Optional bool
}

// Inputs lists the view's input blocks.
func (v View) Inputs() []Input {
	var blocks []map[string]any
	_ = json.Unmarshal(v.Blocks, &blocks)
	var out []Input
	for _, b := range blocks {
		if b["type"] != "input" {
			continue
		}
		el, _ := b["element"].(map[string]any)
		in := Input{BlockID: str(b["block_id"]), ActionID: str(el["action_id"]), Type: str(el["type"])}
		in.Optional, _ = b["optional"].(bool)
		if l, ok := b["label"].(map[string]any); ok {
			in.Label = str(l["text"])
		}
		for _, k := range []string{"initial_value", "initial_date", "initial_time"} {
			if s := str(el[k]); s != "" {
				in.Initial = s
			}
		}
		in.Options = optionValues(el["options"])
		in.Selected = optionValues(el["initial_options"])
		out = append(out, in)
	}
	return out
}

// Input returns the input with blockID; ok is false if there is none.
func (v View) Input(blockID string) (Input, bool) {
	for _, in := range v.Inputs() {
		if in.BlockID == blockID {
			return in, true
		}
	}
	return Input{}, false
}

func str(x any) string { s, _ := x.(string); return s }

func optionValues(x any) []string {
	list, _ := x.([]any)
	var out []string
	for _, o := range list {
		if m, ok := o.(map[string]any); ok {
			out = append(out, str(m["value"]))
		}
	}
	return out
}

// optionJSON finds the option with value among a select's options.
func optionJSON(el map[string]any, value string) (map[string]any, bool) {
	list, _ := el["options"].([]any)
	for _, o := range list {
		if m, ok := o.(map[string]any); ok && m["value"] == value {
			return map[string]any{"text": m["text"], "value": value}, true
		}
	}
	return nil, false
}

// stateLocked is the view's state.values after the user set what changes
// holds (by block_id: a string for text, date and time inputs, a []string
// of option values for a multi-select); inputs not named keep their
// initial values.
func (f *Fake) stateLocked(tb testing.TB, v *viewState, changes map[string]any) map[string]any {
	tb.Helper()
	var blocks []map[string]any
	_ = json.Unmarshal(v.Blocks, &blocks)
	values := map[string]any{}
	known := map[string]bool{}
	for _, b := range blocks {
		if b["type"] != "input" {
			continue
		}
		el, _ := b["element"].(map[string]any)
		bid, aid, typ := str(b["block_id"]), str(el["action_id"]), str(el["type"])
		known[bid] = true
		st := map[string]any{"type": typ}
		change, changed := changes[bid]
		switch typ {
		case "plain_text_input":
			val := any(nil)
			if s := str(el["initial_value"]); s != "" {
				val = s
			}
			if changed {
				val = change
				if change == "" {
					val = nil // Slack sends null for an emptied input
				}
			}
			st["value"] = val
		case "datepicker", "timepicker":
			key := map[string]string{"datepicker": "selected_date", "timepicker": "selected_time"}[typ]
			init := map[string]string{"datepicker": "initial_date", "timepicker": "initial_time"}[typ]
			val := any(nil)
			if s := str(el[init]); s != "" {
				val = s
			}
			if changed {
				val = change
			}
			st[key] = val
			if typ == "timepicker" && el["timezone"] != nil {
				st["timezone"] = el["timezone"]
			}
		case "multi_static_select", "static_select":
			sel := []map[string]any{}
			vals := optionValues(el["initial_options"])
			if changed {
				vals, _ = change.([]string)
			}
			for _, val := range vals {
				o, ok := optionJSON(el, val)
				if !ok {
					tb.Fatalf("slackfake: view %s: %q is not an option of %s", v.ID, val, bid)
				}
				sel = append(sel, o)
			}
			if typ == "static_select" {
				if len(sel) > 0 {
					st["selected_option"] = sel[0]
				} else {
					st["selected_option"] = nil
				}
			} else {
				st["selected_options"] = sel
			}
		default:
			if changed {
				st["value"] = change
			}
		}
		values[bid] = map[string]any{aid: st}
		if opt, _ := b["optional"].(bool); !opt && emptyState(st) {
			tb.Fatalf("slackfake: view %s: input %q may not be left empty; Slack's client does not send the form", v.ID, bid)
		}
	}
	for bid := range changes {
		if !known[bid] {
			tb.Fatalf("slackfake: view %s has no input block %q", v.ID, bid)
		}
	}
	return values
}

// Submit submits the view as user, with the inputs set as changes says
// (see stateLocked), and waits for the app's answer when it can receive
// it: the view_submission interaction (corpus: view_submission payload).
// The answer (Delivery.Response) decides the view's fate: errors keep it
// open with the errors shown, anything else closes it. An empty input
// block the user may not leave empty is refused here, as Slack's client
// refuses it before anything is sent.
func (v View) Submit(tb testing.TB, user string, changes map[string]any) *Delivery {
	tb.Helper()
	f := v.f
	f.mu.Lock()
	vs := f.views[v.ID]
	u := f.users[user]
	if vs == nil || !vs.Open || u == nil {
		f.mu.Unlock()
		tb.Fatalf("slackfake: Submit: view %s is not open, or unknown user %q", v.ID, user)
	}
	values := f.stateLocked(tb, vs, changes)
	payload := map[string]any{
		"type":       "view_submission",
		"team":       map[string]any{"id": f.opt.TeamID, "domain": "heed-fake"},
		"user":       map[string]any{"id": u.ID, "username": u.Name, "name": u.Name, "team_id": f.opt.TeamID},
		"api_app_id": f.opt.AppID, "token": "fake-verification-token",
		"trigger_id":            f.issueTriggerLocked(u.ID),
		"view":                  f.viewJSONLocked(vs, values),
		"response_urls":         []any{},
		"is_enterprise_install": false, "enterprise": nil,
	}
	d := f.out.enqueue("interactive", payload, "")
	wait := f.canReceiveLocked()
	f.mu.Unlock()
	f.send(d, wait)
	if wait {
		f.settleView(tb, v.ID, d)
	}
	return d
}

// SubmitResponse is a view_submission's answer as the app sent it.
type SubmitResponse struct {
	Action string            `json:"response_action"` // "" (close), clear, errors, update, push
	Errors map[string]string `json:"errors"`
}

// ParseSubmitResponse reads a view_submission's answer; an empty body
// closes the view.
func ParseSubmitResponse(b []byte) (SubmitResponse, error) {
	var r SubmitResponse
	if len(b) == 0 || string(b) == "null" {
		return r, nil
	}
	err := json.Unmarshal(b, &r)
	return r, err
}

// settleView applies the app's answer to a submission of view id.
func (f *Fake) settleView(tb testing.TB, id string, d *Delivery) {
	tb.Helper()
	r, err := ParseSubmitResponse(d.Response())
	if err != nil {
		tb.Errorf("slackfake: the answer to a view_submission is not JSON: %q", d.Response())
		return
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	vs := f.views[id]
	if r.Action == "errors" {
		var blocks []map[string]any
		_ = json.Unmarshal(vs.Blocks, &blocks)
		for bid := range r.Errors {
			if !slices.ContainsFunc(blocks, func(b map[string]any) bool { return b["type"] == "input" && b["block_id"] == bid }) {
				tb.Errorf("slackfake: view %s: errors name %q, which is not an input block of the view (Slack shows a generic error)", id, bid)
			}
		}
		vs.Errors = r.Errors
		f.notifyLocked()
		return
	}
	vs.Open, vs.Errors = false, nil
	f.notifyLocked()
}

// Shortcut runs the message shortcut callbackID on msg as user and
// delivers the message_action interaction (corpus: message shortcut
// payload). Its trigger_id opens a view once, within 3 seconds.
func (f *Fake) Shortcut(user string, msg Message, callbackID string) *Delivery {
	f.tb.Helper()
	f.mu.Lock()
	c := f.channels[msg.Channel]
	m := f.mustMessageLocked(msg.Channel, msg.TS)
	u := f.users[user]
	if u == nil {
		f.mu.Unlock()
		f.tb.Fatalf("slackfake: Shortcut: unknown user %q", user)
	}
	n := f.nextSeqLocked()
	payload := map[string]any{
		"type":        "message_action",
		"token":       "fake-verification-token",
		"action_ts":   f.nextTSLocked(),
		"team":        map[string]any{"id": f.opt.TeamID, "domain": "heed-fake"},
		"user":        map[string]any{"id": u.ID, "username": u.Name, "name": u.Name, "team_id": f.opt.TeamID},
		"channel":     map[string]any{"id": c.id, "name": c.name},
		"callback_id": callbackID, "trigger_id": f.issueTriggerLocked(u.ID),
		"response_url":          fmt.Sprintf("%s/respond/actions/%d", f.srv.URL, n),
		"message_ts":            m.ts,
		"message":               f.messageJSON(m, false, false),
		"is_enterprise_install": false, "enterprise": nil,
	}
	d := f.out.enqueue("interactive", payload, "")
	wait := f.canReceiveLocked()
	f.mu.Unlock()
	return f.send(d, wait)
}

// emptyState reports whether an input's state holds nothing.
func emptyState(st map[string]any) bool {
	for _, k := range []string{"value", "selected_date", "selected_time", "selected_option"} {
		if v, ok := st[k]; ok {
			s, isStr := v.(string)
			return v == nil || (isStr && strings.TrimSpace(s) == "")
		}
	}
	if sel, ok := st["selected_options"].([]map[string]any); ok {
		return len(sel) == 0
	}
	return false
}
