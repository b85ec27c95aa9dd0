package matrix

import (
	"bytes"
	"encoding/json"
	"fmt"
	"log/slog"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"maunium.net/go/mautrix/event"
	"maunium.net/go/mautrix/id"

	"github.com/heed-dev/heed/approvals"
	"github.com/heed-dev/heed/bot"
	"github.com/heed-dev/heed/bot/matrix/matrixtest"
	"github.com/heed-dev/heed/internal/heedtest"
)

// longText is a post of at least n bytes: words, line breaks, characters
// that HTML and JSON escape, and characters of several UTF-8 lengths.
func longText(n int) string {
	var b strings.Builder
	for i := 0; b.Len() < n; i++ {
		fmt.Fprintf(&b, "Line %d: release <notes> & \"quotes\", grüße, 東京, 🎉 https://example.org/%d", i, i)
		if i%3 == 2 {
			b.WriteString("\n")
		} else {
			b.WriteString(" ")
		}
	}
	return b.String()
}

// pduSize is the size of an event with content as a homeserver stores it:
// canonical JSON (sorted keys, no HTML escaping) with a generous envelope,
// 20 prev_events (the most the spec allows) and 10 auth_events.
func pduSize(t *testing.T, content map[string]any) int {
	t.Helper()
	ids := func(n int) []string {
		out := make([]string, n)
		for i := range out {
			out[i] = "$" + strings.Repeat("A", 43)
		}
		return out
	}
	pdu := map[string]any{
		"auth_events": ids(10), "prev_events": ids(20), "content": content, "depth": int64(1) << 50,
		"hashes": map[string]string{"sha256": strings.Repeat("h", 43)}, "origin": "matrix.example.org",
		"origin_server_ts": int64(1) << 50, "room_id": "!" + strings.Repeat("r", 43) + ":matrix.example.org",
		"sender": "@heed:matrix.example.org", "type": "m.room.message",
		"signatures": map[string]any{"matrix.example.org": map[string]string{"ed25519:a_AbCd": strings.Repeat("s", 86)}},
		"unsigned":   map[string]any{"age_ts": int64(1) << 50},
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(pdu); err != nil {
		t.Fatal(err)
	}
	return buf.Len() - 1
}

var partRe = regexp.MustCompile(`^📄 Full text of #(\d+)(?: for (\S+))? \((\d+) characters\)(?:, part (\d+) of (\d+))?:\n`)

// threadTexts joins the full-text parts posted in card's thread, per
// target ("" for the post's text), checking their headers.
func threadTexts(t *testing.T, sent []sentEvent, card string) map[string]string {
	t.Helper()
	type part struct {
		n    int
		text string
	}
	parts := map[string][]part{}
	for _, e := range sent {
		rel, _ := e.Content["m.relates_to"].(map[string]any)
		body, _ := e.Content["body"].(string)
		if rel["rel_type"] != "m.thread" || rel["event_id"] != card || !strings.HasPrefix(body, "📄 Full text") {
			continue
		}
		m := partRe.FindStringSubmatch(body)
		if m == nil {
			t.Fatalf("a full-text part has no header: %.200q", body)
		}
		if e.Content["formatted_body"] != nil {
			t.Errorf("a full-text part carries HTML: it is plain text")
		}
		if mentions, ok := e.Content["m.mentions"].(map[string]any); !ok || len(mentions) != 0 {
			t.Errorf("a full-text part may mention someone: m.mentions = %v", e.Content["m.mentions"])
		}
		n, _ := strconv.Atoi(m[4])
		parts[m[2]] = append(parts[m[2]], part{n, body[len(m[0]):]})
	}
	out := map[string]string{}
	for target, ps := range parts {
		sort.Slice(ps, func(i, j int) bool { return ps[i].n < ps[j].n })
		var b strings.Builder
		for _, p := range ps {
			b.WriteString(p.text)
		}
		out[target] = b.String()
	}
	return out
}

// A card of a 16 KB and of a 60 KB post, posted and edited, stays under
// the event size limit in every event heed sends: the card shows what
// fits, with a line that says it is clipped, and the full texts (the
// post's and a target's own) are in the card's thread, once.
func TestLongPostCardsFitTheEventLimit(t *testing.T) {
	for _, size := range []int{16 * 1024, 60 * 1024} {
		t.Run(strconv.Itoa(size/1024)+"KB", func(t *testing.T) {
			f := newFakeHS(t)
			a, _ := newTestAdapter(t, f, newMemState())
			if err := a.connect(t.Context()); err != nil {
				t.Fatal(err)
			}
			text := longText(size)
			variant := text + "\nhttps://example.org/announce"
			c := sampleCard()
			c.Text = text
			c.Targets = []bot.Preview{{Target: "blog", Kind: "webhook", Text: text}, {Target: "mastodon-main", Kind: "mastodon", Text: variant}}
			ref, err := a.PostCard(t.Context(), "!review:heed.test", c)
			if err != nil {
				t.Fatal(err)
			}
			c.Approvals = append(c.Approvals, bot.Decision{User: "@carol:heed.test", Emoji: "✅"})
			c.Notes = append(c.Notes, "approved by two")
			if err := a.UpdateCard(t.Context(), "!review:heed.test", ref, c); err != nil {
				t.Fatalf("the edit of a long card: %v", err)
			}
			sent := f.sentEvents()
			var cardEv, editEv *sentEvent
			for i, e := range sent {
				if pdu := pduSize(t, e.Content); e.Size >= MaxEventBytes || pdu >= MaxEventBytes {
					t.Errorf("event %d takes %d bytes as sent, %d as a stored event: over %d", i, e.Size, pdu, MaxEventBytes)
				}
				rel, _ := e.Content["m.relates_to"].(map[string]any)
				switch {
				case i == 0:
					cardEv = &sent[i]
				case rel["rel_type"] == "m.replace":
					editEv = &sent[i]
				}
			}
			if cardEv == nil || editEv == nil {
				t.Fatalf("no card or no edit among %d events", len(sent))
			}
			t.Logf("%d-byte post (%d characters): card %d bytes sent, %d as a stored event; edit %d bytes sent, %d stored; %d events in all",
				len(text), utf8.RuneCountInString(text), cardEv.Size, pduSize(t, cardEv.Content), editEv.Size, pduSize(t, editEv.Content), len(sent))
			for _, e := range []*sentEvent{cardEv, editEv} {
				body, _ := e.Content["body"].(string)
				html, _ := e.Content["formatted_body"].(string)
				if e == editEv {
					nc, _ := e.Content["m.new_content"].(map[string]any)
					body, _ = nc["body"].(string)
					html, _ = nc["formatted_body"].(string)
				}
				want := regexp.MustCompile(`… \(clipped: (\d+) of ` + strconv.Itoa(utf8.RuneCountInString(text)) + ` characters; full text in the thread\)`)
				m := want.FindStringSubmatch(body)
				if m == nil || !want.MatchString(html) {
					t.Fatalf("the card does not say the text is clipped:\n%.300s …", body)
				}
				shown, _ := strconv.Atoi(m[1])
				if shown < 1000 {
					t.Errorf("the card shows only %d characters of the text", shown)
				}
				if e == editEv {
					t.Logf("the card shows %d of the post's %d characters", shown, utf8.RuneCountInString(text))
				}
				if !strings.Contains(body, "approved by") || !strings.Contains(body, "#12 IN_REVIEW") {
					t.Errorf("the clipped card lost its state or headline")
				}
			}
			nc, _ := editEv.Content["m.new_content"].(map[string]any)
			if body, _ := nc["body"].(string); !strings.Contains(body, "@carol:heed.test") {
				t.Errorf("the edit does not show the new approval")
			}
			full := threadTexts(t, sent, string(ref))
			if full[""] != text {
				t.Errorf("the post's full text in the thread differs (%d bytes, want %d)", len(full[""]), len(text))
			}
			if full["mastodon-main"] != variant {
				t.Errorf("mastodon-main's full text in the thread differs (%d bytes, want %d)", len(full["mastodon-main"]), len(variant))
			}
			if _, ok := full["blog"]; ok {
				t.Errorf("the blog target, whose text is the post's, has its own full text")
			}
			// Posted once: an edit with the same texts posts nothing more.
			n := len(f.sentEvents())
			c.Notes = append(c.Notes, "one more note")
			if err := a.UpdateCard(t.Context(), "!review:heed.test", ref, c); err != nil {
				t.Fatal(err)
			}
			if got := len(f.sentEvents()); got != n+1 {
				t.Errorf("a second edit sent %d events, want the edit alone", got-n)
			}
		})
	}
}

// A card that fits is rendered as it always was, with nothing in its
// thread.
func TestShortCardIsNotClipped(t *testing.T) {
	c, full := fitCard(sampleCard())
	if full != nil || c.Body != cardContent(sampleCard()).Body || c.FormattedBody != cardContent(sampleCard()).FormattedBody {
		t.Errorf("a short card was changed: %v", full)
	}
}

// Parts of a full text join to the text, each within its budget, and end
// at a line break where one is near.
func TestChunks(t *testing.T) {
	text := longText(60 * 1024)
	parts := chunks(text, chunkBudget)
	if len(parts) < 4 || strings.Join(parts, "") != text {
		t.Fatalf("%d parts that join to %d bytes, want the %d-byte text", len(parts), len(strings.Join(parts, "")), len(text))
	}
	for i, p := range parts {
		b, _ := json.Marshal(p)
		if len(b)-2 > chunkBudget {
			t.Errorf("part %d takes %d bytes as JSON, over %d", i, len(b)-2, chunkBudget)
		}
		if i < len(parts)-1 && !strings.HasSuffix(p, "\n") {
			t.Errorf("part %d does not end at a line break: %q", i, p[len(p)-20:])
		}
	}
	if got := chunks(strings.Repeat("<", 100), 60); strings.Join(got, "") != strings.Repeat("<", 100) || len(got) != 10 {
		t.Errorf("escaped characters: %d parts", len(got))
	}
}

// A homeserver that refuses every card edit for good (M_TOO_LARGE) gets
// one attempt per change of the card, however many render passes run:
// heed logs it once, says so in the card's thread, and tries again only
// when the card changes.
func TestRefusedEditIsNotRetriedUntilTheCardChanges(t *testing.T) {
	f := newFakeHS(t)
	f.refuseEdits = `413 {"errcode":"M_TOO_LARGE","error":"event too large"}`
	a, _ := newTestAdapter(t, f, newMemState())
	if err := a.connect(t.Context()); err != nil {
		t.Fatal(err)
	}
	logs := &syncBuffer{}
	room := "!review:heed.test"
	s := heedtest.New(t, heedtest.Options{
		Adapters: []bot.Adapter{a},
		Rooms:    []bot.Room{{Name: "review", Adapter: "matrix", ID: room, Policy: approvals.Policy{Approvers: []string{"@alice:heed.test", "@bob:heed.test"}, Required: 2}}},
		Log:      slog.New(slog.NewTextHandler(logs, nil)),
	})
	p := s.Add("Refused edits", time.Hour)
	s.Cycle()
	if _, ok, err := s.Service.Reviews.Card(s.Ctx, p.ID, "matrix", room); err != nil || !ok {
		t.Fatalf("no card: %v", err)
	}
	tries := func() int {
		f.mu.Lock()
		defer f.mu.Unlock()
		return f.editTries
	}
	passes := func() {
		for range 20 {
			s.Clock.Advance(500 * time.Millisecond)
			s.Cycle()
		}
	}
	passes()
	if n := tries(); n != 0 {
		t.Fatalf("%d edits of an unchanged card", n)
	}
	for i, who := range []string{"@alice:heed.test", "@bob:heed.test"} {
		if _, err := s.Service.Reviews.React(s.Ctx, approvals.ReactionInput{Occurrence: p.ID, User: who, Emoji: "✅", Source: "matrix:" + room}); err != nil {
			t.Fatal(err)
		}
		s.Cycle()
		passes()
		if n := tries(); n != i+1 {
			t.Fatalf("after %d change(s) of the card and 21 render passes each, %d edits were sent, want %d", i+1, n, i+1)
		}
	}
	if n := strings.Count(logs.String(), "refused a card edit for good"); n != 2 {
		t.Errorf("the refusal is logged %d times, want once per change:\n%s", n, logs)
	}
	notes := 0
	for _, e := range f.sentEvents() {
		if body, _ := e.Content["body"].(string); strings.Contains(body, "the chat refused an edit of this card") && strings.Contains(body, "M_TOO_LARGE") {
			notes++
		}
	}
	if notes != 2 {
		t.Errorf("%d notes in the card's thread, want one per refused change", notes)
	}
	s.WantState(p.ID, approvals.StateApproved) // the decisions count whatever the card shows
}

// Against Dendrite: a ~16 KB post's card is posted and edited (an
// approval), each event within the limit as the homeserver serves it, and
// the post's full text is in the card's thread, once.
func TestE2ELongPostCardIsEditedWithTheFullTextInItsThread(t *testing.T) {
	w := newWorld(t, matrixtest.Shared(t))
	p := w.s.Add(longText(16*1024), time.Hour)
	text := p.Text // as stored: trimmed
	w.s.Cycle()
	ref, ok, err := w.s.Service.Reviews.Card(w.s.Ctx, p.ID, "matrix", string(w.room))
	if err != nil || !ok {
		t.Fatalf("no card for the long post: %v (log:\n%s)", err, w.logs)
	}
	card := id.EventID(ref.Ref)
	seen := w.watch.Wait(t, "the card", realWait, func(e *event.Event) bool { return e.ID == card })
	if body := bodyOf(seen.Event); !strings.Contains(body, fmt.Sprintf("of %d characters; full text in the thread)", utf8.RuneCountInString(text))) {
		t.Fatalf("the card does not say its text is clipped:\n%.400s", body)
	}
	w.react(w.alice, card, "✅")
	w.waitEdit(card, "approved by "+string(w.alice.ID))
	w.s.WantState(p.ID, approvals.StateApproved)

	var sent []sentEvent
	parts := 0
	for _, s := range w.watch.Events() {
		if s.Event.Sender == w.bot.ID {
			sent = append(sent, sentEvent{Content: s.Event.Content.Raw})
			if strings.HasPrefix(bodyOf(s.Event), "📄 Full text") {
				parts++
			}
		}
	}
	if got := threadTexts(t, sent, string(card))[""]; got != text {
		t.Fatalf("the thread holds %d bytes of the post's full text, want all %d", len(got), len(text))
	}
	// The events as the homeserver serves them, edit included.
	var edit id.EventID
	for _, s := range w.watch.Events() {
		if isEditOf(s.Event, card) {
			edit = s.Event.ID
		}
	}
	for what, evID := range map[string]id.EventID{"card": card, "edit": edit} {
		b, err := w.eve.Client.MakeRequest(w.s.Ctx, "GET", w.eve.Client.BuildClientURL("v3", "rooms", w.room, "event", evID), nil, nil)
		if err != nil || evID == "" {
			t.Fatalf("read the %s %q: %v", what, evID, err)
		}
		if len(b) >= MaxEventBytes {
			t.Errorf("the %s takes %d bytes as served", what, len(b))
		}
		t.Logf("%s of a %d-byte post: %d bytes as Dendrite serves it; %d full-text part(s) in the thread", what, len(text), len(b), parts)
	}
	if strings.Contains(w.logs.String(), "M_TOO_LARGE") || strings.Contains(w.logs.String(), "refused") {
		t.Errorf("the homeserver refused something:\n%s", w.logs)
	}
}

// A full text whose posting fails once its card is up does not fail the
// card (it is posted, and heed knows it), and goes out after the next
// sync, once.
func TestFullTextFailedWithItsCardIsPostedLater(t *testing.T) {
	f := newFakeHS(t)
	a, _ := newTestAdapter(t, f, newMemState())
	if err := a.connect(t.Context()); err != nil {
		t.Fatal(err)
	}
	c := sampleCard()
	c.Text = longText(40 * 1024)
	c.Targets = c.Targets[:1]
	c.Targets[0].Text = c.Text
	f.mu.Lock()
	f.failThread = 1
	f.mu.Unlock()
	ref, err := a.PostCard(t.Context(), "!review:heed.test", c)
	if err != nil || ref == "" {
		t.Fatalf("the card's posting failed with its full text: %q %v", ref, err)
	}
	if got := threadTexts(t, f.sentEvents(), string(ref)); len(got) != 0 {
		t.Fatalf("full text posted while the homeserver failed: %d bytes", len(got[""]))
	}
	a.retryFullTexts(t.Context()) // as the sync loop does after each sync
	if got := threadTexts(t, f.sentEvents(), string(ref))[""]; got != c.Text {
		t.Fatalf("after the next sync the thread holds %d bytes of the full text, want %d", len(got), len(c.Text))
	}
	n := len(f.sentEvents())
	a.retryFullTexts(t.Context())
	c.Notes = append(c.Notes, "changed")
	if err := a.UpdateCard(t.Context(), "!review:heed.test", ref, c); err != nil {
		t.Fatal(err)
	}
	if got := len(f.sentEvents()); got != n+1 {
		t.Errorf("%d events after the full text was posted, want the edit alone", got-n)
	}
}
