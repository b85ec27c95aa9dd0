package bot

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/heed-dev/heed/approvals"
	"github.com/heed-dev/heed/media"
)

// Card is the adapter-neutral view of one occurrence's review card. The
// engine builds it from domain state; each adapter renders it in its own
// format (plain text, Matrix HTML, Slack Block Kit).
type Card struct {
	Number  int64 // what people type: "+N ✅", "cancel N"; the occurrence id
	PostID  int64
	State   approvals.State
	Text    string // the post's text (the default variant)
	Link    string
	Images  []CardImage // the post's images; each is also posted in the card's thread
	Targets []Preview
	At      time.Time      // scheduled time
	Zone    *time.Location // the team's zone
	Now     time.Time      // when the card was rendered, for "in 13 h"

	Required   int        // approvals needed
	Approvals  []Decision // valid approvals for the current payload
	Rejections []Decision // valid rejections
	Ignored    []Ignored  // reactions that do not count, with the reason

	Warnings []string // over length, sensitive date, off hours, ...
	Notes    []string // why it is held, missed, unknown; results of publishing
	HowTo    string   // how to act, in this chat's words
	// Version names the content the card is for (the payloads' combined
	// hash): a chat that makes posting idempotent keys it with this, so a
	// fresh card for changed content is a new message.
	Version string
	// Superseded is set on a card a fresh one replaced after the post
	// changed: decisions on it no longer count, and it offers none.
	Superseded bool
}

// Actionable reports whether people decide on this card: it is open and
// not superseded.
func (c Card) Actionable() bool { return c.State.Open() && !c.Superseded }

// Preview is what one target will receive.
type Preview struct {
	Target   string
	Kind     string // publisher kind: "mastodon", "log", ...
	Text     string // exactly what will be sent
	Problems []string
	URL      string // the published post, once there is one
	Error    string // the last publish error for this target, if any
}

// CardImage is one image of a post as its card lists it: enough to tell
// which image an approval is for (the SHA-256 the payload hash covers) and
// whether people who cannot see it get a description.
type CardImage struct {
	Name   string // the file's name as the person gave it
	Alt    string
	Type   string // MIME type
	Size   int64  // bytes
	SHA256 string // hex; "" for an image attached before heed kept copies
}

// ShortHash is the first 12 hex digits of the image's SHA-256, or "" when
// it has none.
func (im CardImage) ShortHash() string {
	if len(im.SHA256) < 12 {
		return ""
	}
	return im.SHA256[:12]
}

// Line describes the image in one line:
// 🖼 cat.png · 12.3 kB · image/png · sha256 3fa9c0d1e2b4 · alt: "A cat".
func (im CardImage) Line() string {
	parts := []string{"🖼 " + im.Name}
	if im.SHA256 == "" {
		parts = append(parts, "no copy kept (attached before heed kept images)")
	} else {
		parts = append(parts, media.HumanSize(im.Size))
		if im.Type != "" {
			parts = append(parts, im.Type)
		}
		parts = append(parts, "sha256 "+im.ShortHash())
	}
	if strings.TrimSpace(im.Alt) == "" {
		parts = append(parts, "no alt text")
	} else {
		parts = append(parts, "alt: "+strconv.Quote(oneLine(im.Alt)))
	}
	return strings.Join(parts, " · ")
}

// ImageLines lists the card's images, one line each, each image without
// alt text followed by a warning line (starting with ⚠) that says how to
// add it.
func (c Card) ImageLines() []string {
	var out []string
	for _, im := range c.Images {
		out = append(out, im.Line())
		if strings.TrimSpace(im.Alt) == "" {
			out = append(out, fmt.Sprintf("⚠ %s has no alt text: people who cannot see it get no description. Add one: heed post edit %d --media FILE --alt TEXT", im.Name, c.PostID))
		}
	}
	return out
}

// Decision is one counted reaction.
type Decision struct {
	User  string // shown name
	Emoji string
	At    time.Time
}

// Ignored is a reaction that does not count, and why.
type Ignored struct {
	User   string
	Emoji  string
	Reason string // "not an approver", "a bot", "the post's author", ...
}

// Relative renders d from now in the short form cards use: "in 13 h",
// "in 5 min", "2 d ago".
func Relative(at, now time.Time) string {
	d := at.Sub(now)
	past := d < 0
	if past {
		d = -d
	}
	var s string
	switch {
	case d < time.Minute:
		s = fmt.Sprintf("%d s", int(d.Seconds()))
	case d < time.Hour:
		s = fmt.Sprintf("%d min", int(d.Minutes()))
	case d < 48*time.Hour:
		s = fmt.Sprintf("%d h", int(d.Hours()))
	default:
		s = fmt.Sprintf("%d d", int(d.Hours()/24))
	}
	if past {
		return s + " ago"
	}
	return "in " + s
}

// Headline is the card's first line: number, state and time.
func (c Card) Headline() string {
	return fmt.Sprintf("#%d %s · %s (%s)", c.Number, strings.ToUpper(string(c.State)),
		c.At.In(c.zone()).Format("Mon 2 Jan 2006 15:04 MST"), Relative(c.At, c.Now))
}

func (c Card) zone() *time.Location {
	if c.Zone == nil {
		return time.UTC
	}
	return c.Zone
}

// Status is the one-line decision summary: "approved by @alice (1/1)".
func (c Card) Status() string {
	names := func(ds []Decision) string {
		out := make([]string, len(ds))
		for i, d := range ds {
			out[i] = d.User
		}
		return strings.Join(out, ", ")
	}
	switch {
	case len(c.Rejections) > 0:
		return "rejected by " + names(c.Rejections)
	case len(c.Approvals) > 0:
		return fmt.Sprintf("approved by %s (%d/%d)", names(c.Approvals), len(c.Approvals), c.Required)
	default:
		return fmt.Sprintf("no approvals yet (0/%d)", c.Required)
	}
}

// PlainText renders the whole card as plain text. The console prints it; the
// Matrix adapter uses it as the plain body next to its HTML.
func (c Card) PlainText() string {
	var b strings.Builder
	b.WriteString(c.Headline())
	b.WriteString("\n")
	for _, line := range strings.Split(c.Text, "\n") {
		b.WriteString("> " + line + "\n")
	}
	if c.Link != "" {
		b.WriteString("link: " + c.Link + "\n")
	}
	for _, l := range c.ImageLines() {
		b.WriteString(l + "\n")
	}
	for _, p := range c.Targets {
		fmt.Fprintf(&b, "→ %s (%s)", p.Target, p.Kind)
		if p.Text != c.Text {
			b.WriteString(": " + oneLine(p.Text))
		}
		if p.URL != "" {
			b.WriteString(" · " + p.URL)
		}
		if p.Error != "" {
			b.WriteString(" · error: " + p.Error)
		}
		b.WriteString("\n")
		for _, pr := range p.Problems {
			b.WriteString("  ⚠ " + pr + "\n")
		}
	}
	b.WriteString(c.Status() + "\n")
	for _, ig := range c.Ignored {
		fmt.Fprintf(&b, "%s from %s does not count: %s\n", ig.Emoji, ig.User, ig.Reason)
	}
	for _, w := range c.Warnings {
		b.WriteString("⚠ " + w + "\n")
	}
	for _, n := range c.Notes {
		b.WriteString("ℹ " + n + "\n")
	}
	if c.HowTo != "" {
		b.WriteString(c.HowTo + "\n")
	}
	return strings.TrimRight(b.String(), "\n")
}

func oneLine(s string) string { return strings.ReplaceAll(s, "\n", " ⏎ ") }
