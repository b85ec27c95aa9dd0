package slack

import (
	"context"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"unicode/utf8"

	slackapi "github.com/slack-go/slack"

	"github.com/heed-dev/heed/bot"
)

// Button action ids on cards.
const (
	actionApprove = "heed_approve"
	actionReject  = "heed_reject"
	actionsBlock  = "heed_actions"
)

// The emoji a button press stands for, as Slack names them.
const (
	emojiApprove = "white_check_mark"
	emojiReject  = "x"
)

// defaultHowTo is shown when the engine gives no instructions of its own.
const defaultHowTo = "React with :white_check_mark: or :+1: to approve, :x: or :-1: to reject; " +
	"remove your reaction to take it back. The buttons do the same; click a button again to take it back. " +
	"Type `pause` here to stop all publishing."

// Slack's limits: a section's text, a message's fallback text.
const (
	maxSectionText  = 3000
	maxFallbackText = 3000
)

// PostCard posts a new card into a review channel.
func (a *Adapter) PostCard(ctx context.Context, room string, c bot.Card) (bot.MessageRef, error) {
	var ts string
	err := a.api.call(ctx, "chat.postMessage", func(ctx context.Context) (err error) {
		_, ts, err = a.api.c.PostMessageContext(ctx, room, cardOptions(c)...)
		return err
	})
	if err != nil {
		return "", fmt.Errorf("slack: posting card #%d in %s: %w", c.Number, room, err)
	}
	a.noteCard(ctx, room, ts, c.Actionable())
	return bot.MessageRef(ts), nil
}

// UpdateCard edits a card in place (chat.update).
func (a *Adapter) UpdateCard(ctx context.Context, room string, ref bot.MessageRef, c bot.Card) error {
	err := a.api.call(ctx, "chat.update", func(ctx context.Context) error {
		_, _, _, err := a.api.c.UpdateMessageContext(ctx, room, string(ref), cardOptions(c)...)
		return err
	})
	if err != nil {
		return fmt.Errorf("slack: updating card #%d (%s) in %s: %w", c.Number, ref, room, err)
	}
	a.noteCard(ctx, room, string(ref), c.Actionable())
	return nil
}

// Reply posts text into the card's thread, or into the channel when
// thread is empty.
func (a *Adapter) Reply(ctx context.Context, room string, thread bot.MessageRef, text string) error {
	return a.reply(ctx, room, thread, text, nil)
}

func (a *Adapter) reply(ctx context.Context, room string, thread bot.MessageRef, text string, meta *slackapi.SlackMetadata) error {
	opts := []slackapi.MsgOption{slackapi.MsgOptionText(escapeKeepMentions(text), false)}
	if thread != "" {
		opts = append(opts, slackapi.MsgOptionTS(string(thread)))
	}
	if meta != nil {
		opts = append(opts, slackapi.MsgOptionMetadata(*meta))
	}
	err := a.api.call(ctx, "chat.postMessage", func(ctx context.Context) error {
		_, _, err := a.api.c.PostMessageContext(ctx, room, opts...)
		return err
	})
	if err != nil {
		return fmt.Errorf("slack: replying in %s: %w", room, err)
	}
	return nil
}

func cardOptions(c bot.Card) []slackapi.MsgOption {
	return []slackapi.MsgOption{
		slackapi.MsgOptionText(truncate(escape(c.PlainText()), maxFallbackText), false),
		slackapi.MsgOptionBlocks(cardBlocks(c)...),
		slackapi.MsgOptionMetadata(slackapi.SlackMetadata{EventType: "heed_card",
			EventPayload: map[string]any{"occurrence": c.Number, "state": string(c.State)}}),
	}
}

// cardBlocks renders a card with Block Kit: headline with the time in each
// reader's own zone, the exact text in a quote, targets, the decision and
// who made it, reactions that do not count and why, warnings, notes, how
// to act, and Approve/Reject buttons while the card is open.
func cardBlocks(c bot.Card) []slackapi.Block {
	var blocks []slackapi.Block
	section := func(md string) {
		blocks = append(blocks, slackapi.NewSectionBlock(mrkdwn(truncate(md, maxSectionText)), nil, nil))
	}
	contextLine := func(md string) {
		blocks = append(blocks, slackapi.NewContextBlock("", mrkdwn(truncate(md, maxSectionText))))
	}

	section(fmt.Sprintf("*#%d · %s* · %s (%s)", c.Number, strings.ToUpper(strings.ReplaceAll(string(c.State), "_", " ")),
		slackDate(c), bot.Relative(c.At, c.Now)))
	blocks = append(blocks, quote(c.Text))
	if c.Link != "" {
		section("link: " + escape(c.Link))
	}
	if lines := c.ImageLines(); len(lines) > 0 {
		section(escape(strings.Join(lines, "\n")))
	}
	for _, p := range c.Targets {
		line := fmt.Sprintf("→ *%s* (%s)", escape(p.Target), escape(p.Kind))
		if p.URL != "" {
			line += " · " + escape(p.URL)
		}
		if p.Error != "" {
			line += " · error: " + escape(p.Error)
		}
		for _, pr := range p.Problems {
			line += "\n   ⚠ " + escape(pr)
		}
		section(line)
		if p.Text != "" && p.Text != c.Text {
			blocks = append(blocks, quote(p.Text))
		}
	}
	section("*" + escape(c.Status()) + "*")
	var notes []string
	for _, ig := range c.Ignored {
		notes = append(notes, fmt.Sprintf("%s from %s does not count: %s", escape(ig.Emoji), escape(ig.User), escape(ig.Reason)))
	}
	for _, w := range c.Warnings {
		notes = append(notes, "⚠ "+escape(w))
	}
	for _, n := range c.Notes {
		notes = append(notes, "ℹ "+escape(n))
	}
	if len(notes) > 0 {
		section(strings.Join(notes, "\n"))
	}
	howTo := defaultHowTo
	if c.HowTo != "" {
		howTo = escape(c.HowTo)
	}
	if c.Actionable() {
		contextLine(howTo)
		num := strconv.FormatInt(c.Number, 10)
		approve := slackapi.NewButtonBlockElement(actionApprove, num, plain("✅ Approve")).WithStyle(slackapi.StylePrimary)
		reject := slackapi.NewButtonBlockElement(actionReject, num, plain("❌ Reject")).WithStyle(slackapi.StyleDanger)
		blocks = append(blocks, slackapi.NewActionBlock(actionsBlock, approve, reject))
	}
	return blocks
}

// slackDate formats the card's time with Slack's date token, so that every
// reader sees it in their own zone; the fallback is the team's zone.
func slackDate(c bot.Card) string {
	zone := c.Zone
	if zone == nil {
		zone = c.At.Location()
	}
	fallback := c.At.In(zone).Format("Mon 2 Jan 2006 15:04 MST")
	return fmt.Sprintf("<!date^%d^{date_short_pretty} {time}|%s>", c.At.Unix(), fallback)
}

// quote renders text exactly, as a rich-text quote: no mrkdwn is applied,
// so what reviewers read is what will be posted.
func quote(text string) slackapi.Block {
	if text == "" {
		text = "(no text)"
	}
	return slackapi.NewRichTextBlock("", &slackapi.RichTextQuote{Type: slackapi.RTEQuote,
		Elements: []slackapi.RichTextSectionElement{slackapi.NewRichTextSectionTextElement(text, nil)}})
}

func mrkdwn(s string) *slackapi.TextBlockObject {
	return slackapi.NewTextBlockObject(slackapi.MarkdownType, s, false, true)
}

func plain(s string) *slackapi.TextBlockObject {
	return slackapi.NewTextBlockObject(slackapi.PlainTextType, s, true, false)
}

// escape makes text safe for mrkdwn: &, < and > are control characters
// there (links, mentions, @channel).
func escape(s string) string {
	return strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;").Replace(s)
}

// mentionToken is a user or user group mention as the engine writes it
// (Mention, MentionGroup).
var mentionToken = regexp.MustCompile(`<@[UW][A-Z0-9]+>|<!subteam\^S[A-Z0-9]+>`)

// escapeKeepMentions escapes text for Slack but leaves the user and user
// group mentions heed wrote in it as mentions, so that those people are
// notified.
func escapeKeepMentions(s string) string {
	var b strings.Builder
	last := 0
	for _, m := range mentionToken.FindAllStringIndex(s, -1) {
		b.WriteString(escape(s[last:m[0]]))
		b.WriteString(s[m[0]:m[1]])
		last = m[1]
	}
	b.WriteString(escape(s[last:]))
	return b.String()
}

// unescape reverses what Slack does to &, < and > in message text.
func unescape(s string) string {
	return strings.NewReplacer("&lt;", "<", "&gt;", ">", "&amp;", "&").Replace(s)
}

func truncate(s string, n int) string {
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	r := []rune(s)
	return string(r[:n-1]) + "…"
}
