package matrix

import (
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"maunium.net/go/mautrix/event"

	"github.com/heed-dev/heed/approvals"
	"github.com/heed-dev/heed/bot"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

func sampleCard() bot.Card {
	cet := time.FixedZone("CET", 3600)
	now := time.Date(2030, 1, 7, 9, 0, 0, 0, time.UTC)
	return bot.Card{
		Number: 12, PostID: 7, State: approvals.StateInReview,
		Text: "Release 2.0 is out <3\nRead the notes & upgrade",
		Link: "https://example.org/2.0",
		Targets: []bot.Preview{
			{Target: "mastodon-main", Kind: "mastodon", Text: "Release 2.0 is out <3\nRead the notes & upgrade"},
			{Target: "bluesky", Kind: "bluesky", Text: "Release 2.0 is out <3 Read the notes & upgrade", Problems: []string{"312/300 graphemes"}},
		},
		At: now.Add(13 * time.Hour), Zone: cet, Now: now, Required: 2,
		Approvals: []bot.Decision{{User: "@alice:heed.test", Emoji: "✅", At: now}},
		Ignored:   []bot.Ignored{{User: "@eve:heed.test", Emoji: "👍", Reason: "not an approver (power level 0, needs 50)"}},
		Warnings:  []string{"falls outside staffed hours"},
		Notes:     []string{"edited by @bob; earlier approvals were voided"},
		HowTo:     "React ✅ or 👍 to approve, ❌ or 👎 to reject. `delay 12 1h`, `cancel 12`. Anyone can type `pause`.",
	}
}

func golden(t *testing.T, name, got string) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if got != string(want) {
		t.Errorf("%s differs from the golden file:\n got: %s\nwant: %s", name, got, want)
	}
}

func TestCardContent(t *testing.T) {
	c := cardContent(sampleCard())
	if c.MsgType != event.MsgNotice || c.Format != event.FormatHTML {
		t.Errorf("msgtype %q format %q, want an m.notice with HTML", c.MsgType, c.Format)
	}
	if c.Body != sampleCard().PlainText() {
		t.Errorf("body is not the card's plain text")
	}
	golden(t, "card.txt", c.Body+"\n")
	golden(t, "card.html", c.FormattedBody+"\n")

	h := c.FormattedBody
	for _, want := range []string{
		// the headline: number, state, time in the team's zone, relative
		"<strong>#12 IN_REVIEW · Mon 7 Jan 2030 23:00 CET (in 13 h)</strong>",
		// the exact text, quoted and escaped
		"<blockquote>Release 2.0 is out &lt;3<br>Read the notes &amp; upgrade</blockquote>",
		`<a href="https://example.org/2.0">https://example.org/2.0</a>`,
		"<strong>mastodon-main</strong> (mastodon)</li>",
		"<strong>bluesky</strong> (bluesky): <code>Release 2.0 is out &lt;3 Read the notes &amp; upgrade</code><br>⚠ 312/300 graphemes",
		// the state and who decided
		"<strong>approved by @alice:heed.test (1/2)</strong>",
		// why a reaction does not count
		"<li>👍 from @eve:heed.test does not count: not an approver (power level 0, needs 50)</li>",
		"<p>⚠ falls outside staffed hours</p>",
		"<p>ℹ edited by @bob; earlier approvals were voided</p>",
		// how to act, with commands as code
		"<code>delay 12 1h</code>", "<code>pause</code>",
	} {
		if !strings.Contains(h, want) {
			t.Errorf("HTML lacks %q\n%s", want, h)
		}
	}
	if strings.Contains(h, "<3") || strings.Contains(h, "& upgrade") {
		t.Errorf("post text reached the HTML unescaped:\n%s", h)
	}
}

func TestCardHTMLDoesNotLinkOtherSchemes(t *testing.T) {
	c := sampleCard()
	c.Link = `javascript:alert("x")`
	h := cardHTML(c)
	if strings.Contains(h, "<a href=\"javascript") {
		t.Errorf("a javascript: link became clickable: %s", h)
	}
}

func TestEditContent(t *testing.T) {
	nc := cardContent(sampleCard())
	b, err := json.Marshal(editContent("$card1:heed.test", nc))
	if err != nil {
		t.Fatal(err)
	}
	var got struct {
		MsgType    string `json:"msgtype"`
		Body       string `json:"body"`
		NewContent struct {
			MsgType       string `json:"msgtype"`
			Body          string `json:"body"`
			Format        string `json:"format"`
			FormattedBody string `json:"formatted_body"`
		} `json:"m.new_content"`
		RelatesTo struct {
			RelType string `json:"rel_type"`
			EventID string `json:"event_id"`
		} `json:"m.relates_to"`
	}
	if err := json.Unmarshal(b, &got); err != nil {
		t.Fatal(err)
	}
	if got.RelatesTo.RelType != "m.replace" || got.RelatesTo.EventID != "$card1:heed.test" {
		t.Errorf("m.relates_to = %+v, want m.replace of $card1", got.RelatesTo)
	}
	if got.NewContent.Body != nc.Body || got.NewContent.FormattedBody != nc.FormattedBody ||
		got.NewContent.MsgType != "m.notice" || got.NewContent.Format != "org.matrix.custom.html" {
		t.Errorf("m.new_content does not carry the new card: %+v", got.NewContent)
	}
	if got.Body != "* "+nc.Body || got.MsgType != "m.notice" {
		t.Errorf("fallback body = %q, want the starred new body", got.Body)
	}
}

func TestReplyContent(t *testing.T) {
	b, _ := json.Marshal(replyContent("$card1:heed.test", "⏸ Paused all publishing. Type `resume` <when> ready."))
	var got map[string]any
	json.Unmarshal(b, &got)
	rel, _ := got["m.relates_to"].(map[string]any)
	if rel["rel_type"] != "m.thread" || rel["event_id"] != "$card1:heed.test" || rel["is_falling_back"] != true {
		t.Errorf("m.relates_to = %v, want an m.thread on the card with the reply fallback", rel)
	}
	if irt, _ := rel["m.in_reply_to"].(map[string]any); irt["event_id"] != "$card1:heed.test" {
		t.Errorf("m.in_reply_to = %v", rel["m.in_reply_to"])
	}
	if got["msgtype"] != "m.notice" || got["formatted_body"] != "⏸ Paused all publishing. Type <code>resume</code> &lt;when&gt; ready." {
		t.Errorf("content = %v", got)
	}
	b, _ = json.Marshal(replyContent("", "hello"))
	if strings.Contains(string(b), "m.relates_to") {
		t.Errorf("a reply outside a thread carries a relation: %s", b)
	}
}

func TestRepliesMentionUserIDs(t *testing.T) {
	c := replyContent("$card", "@alice:example.org @bob:example.org: ⏰ #3: going out at 10:00 (in 15 min) to log.")
	if c.Mentions == nil || len(c.Mentions.UserIDs) != 2 || c.Mentions.UserIDs[0] != "@alice:example.org" {
		t.Fatalf("m.mentions = %+v, want alice and bob", c.Mentions)
	}
	if !strings.Contains(c.FormattedBody, `<a href="https://matrix.to/#/@alice:example.org">@alice:example.org</a>`) {
		t.Fatalf("no pill in %s", c.FormattedBody)
	}
	if plain := replyContent("", "Nothing is paused."); plain.Mentions != nil {
		t.Fatalf("a reply without user ids mentions %+v", plain.Mentions)
	}
	var m bot.Mentioner = &Adapter{}
	if m.Mention("@alice:example.org") != "@alice:example.org" {
		t.Fatal("Mention must be the user id")
	}
}
