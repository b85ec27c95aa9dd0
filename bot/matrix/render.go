package matrix

import (
	"fmt"
	"html"
	"regexp"
	"slices"
	"strings"

	"maunium.net/go/mautrix/event"
	"maunium.net/go/mautrix/id"

	"github.com/heed-dev/heed/bot"
)

// cardContent renders a card as an m.notice (bots post notices, so other
// bots do not answer them) with the plain text every client can show and
// HTML for those that render it.
func cardContent(c bot.Card) *event.MessageEventContent {
	return &event.MessageEventContent{
		MsgType:       event.MsgNotice,
		Body:          c.PlainText(),
		Format:        event.FormatHTML,
		FormattedBody: cardHTML(c),
	}
}

// editContent wraps new card content in an m.replace edit of ref. Clients
// that understand edits show m.new_content in place of the original; the
// top-level body, starred, is the fallback for those that do not.
func editContent(ref id.EventID, c *event.MessageEventContent) *event.MessageEventContent {
	return &event.MessageEventContent{
		MsgType:       c.MsgType,
		Body:          "* " + c.Body,
		Format:        c.Format,
		FormattedBody: "* " + c.FormattedBody,
		NewContent:    c,
		RelatesTo:     &event.RelatesTo{Type: event.RelReplace, EventID: ref},
	}
}

// replyContent is a bot reply: an m.notice, in the thread of thread when it
// is set. The thread relation carries the reply fallback the spec asks for,
// so clients without threads show it as a reply to the card.
func replyContent(thread id.EventID, text string) *event.MessageEventContent {
	c := &event.MessageEventContent{
		MsgType:       event.MsgNotice,
		Body:          text,
		Format:        event.FormatHTML,
		FormattedBody: inlineHTML(text),
	}
	// User ids in the text (the engine mentions approvers that way) are
	// intentional mentions, so those people are notified.
	if ids := userIDs(text); len(ids) > 0 {
		c.Mentions = &event.Mentions{UserIDs: ids}
	}
	if thread != "" {
		c.RelatesTo = &event.RelatesTo{
			Type: event.RelThread, EventID: thread,
			InReplyTo: &event.InReplyTo{EventID: thread}, IsFallingBack: true,
		}
	}
	return c
}

var codeSpan = regexp.MustCompile("`([^`\n]+)`")

// userID matches a Matrix user id as the spec's grammar allows it.
var userID = regexp.MustCompile(`@[a-z0-9._=\-/+]+:[A-Za-z0-9.\-]+(:[0-9]+)?`)

func userIDs(text string) []id.UserID {
	var out []id.UserID
	for _, m := range userID.FindAllString(text, -1) {
		if !slices.Contains(out, id.UserID(m)) {
			out = append(out, id.UserID(m))
		}
	}
	return out
}

// Mention implements bot.Mentioner: the user id itself, which replies turn
// into an intentional mention.
func (a *Adapter) Mention(user string) string { return user }

// inlineHTML escapes text and turns `code` spans (the engine writes
// commands that way) into <code>, and newlines into <br>.
func inlineHTML(text string) string {
	s := html.EscapeString(text)
	s = codeSpan.ReplaceAllString(s, "<code>$1</code>")
	s = userID.ReplaceAllStringFunc(s, func(u string) string {
		return `<a href="https://matrix.to/#/` + u + `">` + u + `</a>`
	})
	return strings.ReplaceAll(s, "\n", "<br>")
}

// cardHTML renders the card: headline, the post text quoted exactly,
// targets, state and who decided, the reactions that do not count and why,
// warnings, notes, and how to act.
func cardHTML(c bot.Card) string {
	var b strings.Builder
	fmt.Fprintf(&b, "<p><strong>%s</strong></p>", html.EscapeString(c.Headline()))
	b.WriteString("<blockquote>")
	b.WriteString(strings.ReplaceAll(html.EscapeString(c.Text), "\n", "<br>"))
	b.WriteString("</blockquote>")
	if c.Link != "" {
		fmt.Fprintf(&b, "<p>link: %s</p>", linkHTML(c.Link))
	}
	for _, l := range c.ImageLines() {
		fmt.Fprintf(&b, "<p>%s</p>", html.EscapeString(l))
	}
	if len(c.Targets) > 0 {
		b.WriteString("<ul>")
		for _, p := range c.Targets {
			fmt.Fprintf(&b, "<li>→ <strong>%s</strong> (%s)", html.EscapeString(p.Target), html.EscapeString(p.Kind))
			if p.Text != c.Text {
				fmt.Fprintf(&b, ": <code>%s</code>", strings.ReplaceAll(html.EscapeString(p.Text), "\n", " ⏎ "))
			}
			if p.URL != "" {
				b.WriteString(" · " + linkHTML(p.URL))
			}
			if p.Error != "" {
				fmt.Fprintf(&b, " · error: %s", html.EscapeString(p.Error))
			}
			for _, pr := range p.Problems {
				fmt.Fprintf(&b, "<br>⚠ %s", html.EscapeString(pr))
			}
			b.WriteString("</li>")
		}
		b.WriteString("</ul>")
	}
	fmt.Fprintf(&b, "<p><strong>%s</strong></p>", html.EscapeString(c.Status()))
	if len(c.Ignored) > 0 {
		b.WriteString("<ul>")
		for _, ig := range c.Ignored {
			fmt.Fprintf(&b, "<li>%s from %s does not count: %s</li>",
				html.EscapeString(ig.Emoji), html.EscapeString(ig.User), html.EscapeString(ig.Reason))
		}
		b.WriteString("</ul>")
	}
	for _, w := range c.Warnings {
		fmt.Fprintf(&b, "<p>⚠ %s</p>", html.EscapeString(w))
	}
	for _, n := range c.Notes {
		fmt.Fprintf(&b, "<p>ℹ %s</p>", html.EscapeString(n))
	}
	if c.HowTo != "" {
		fmt.Fprintf(&b, "<p><em>%s</em></p>", inlineHTML(c.HowTo))
	}
	return b.String()
}

// linkHTML makes an http(s) URL a link; anything else stays text, so a
// javascript: "link" in a post cannot become clickable.
func linkHTML(u string) string {
	e := html.EscapeString(u)
	if strings.HasPrefix(u, "https://") || strings.HasPrefix(u, "http://") {
		return fmt.Sprintf(`<a href="%s">%s</a>`, e, e)
	}
	return e
}
