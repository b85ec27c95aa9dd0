package matrix

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"

	"maunium.net/go/mautrix"
	"maunium.net/go/mautrix/event"
	"maunium.net/go/mautrix/id"

	"github.com/heed-dev/heed/bot"
)

// Long posts. A Matrix event may take at most 65,536 bytes as canonical
// JSON, envelope included, and an edit carries the card twice (the
// fallback body and m.new_content). A card is therefore rendered so that
// an edit of it, as heed encodes it, takes at most cardBudget: half the
// limit, which leaves the other half for the envelope the homeserver adds
// (ids, hashes, signatures: about 2 KB) and for any difference between
// Go's encoding and canonical JSON (Go's is never shorter). When the card
// does not fit as it is, the post's text, and each target's own text, is
// clipped to the longest prefix that fits, with a line that says so; the
// full texts go once into the card's thread as plain notices, in parts of
// at most chunkBudget each.
const (
	// MaxEventBytes is the Matrix limit on one event as canonical JSON.
	MaxEventBytes = 65536
	// cardBudget bounds an edit of a card as heed sends it (JSON).
	cardBudget = MaxEventBytes / 2
	// chunkBudget bounds the text of one full-text message (JSON).
	chunkBudget = 16 * 1024
)

// maxRef stands for the card's event id while a card is measured: the
// longest event id the spec allows.
var maxRef = id.EventID("$" + strings.Repeat("x", 254))

// fullText is a text clipped on a card, shown whole in the card's thread.
type fullText struct {
	Target string // "" for the post's text, else the target whose own text it is
	Text   string
}

// fitCard renders c as cardContent does, clipped when an edit of it would
// take more than cardBudget. It returns the texts it clipped.
func fitCard(c bot.Card) (*event.MessageEventContent, []fullText) {
	content := cardContent(c)
	if editSize(content) <= cardBudget {
		return content, nil
	}
	longest := utf8.RuneCountInString(c.Text)
	for _, p := range c.Targets {
		longest = max(longest, utf8.RuneCountInString(p.Text))
	}
	// The longest prefix that fits: binary search over the characters kept.
	lo, hi := 0, longest
	for lo < hi {
		mid := (lo + hi + 1) / 2
		if cc, _ := clipCard(c, mid); editSize(cardContent(cc)) <= cardBudget {
			lo = mid
		} else {
			hi = mid - 1
		}
	}
	cc, full := clipCard(c, lo)
	return cardContent(cc), full
}

// editSize is how many bytes an edit carrying content takes as heed sends it.
func editSize(content *event.MessageEventContent) int {
	b, err := json.Marshal(editContent(maxRef, content))
	if err != nil {
		return MaxEventBytes + 1
	}
	return len(b)
}

// clipCard keeps at most keep characters of the post's text and of each
// target's own text, each clipped one followed by a line that says so.
func clipCard(c bot.Card, keep int) (bot.Card, []fullText) {
	orig := c.Text
	c.Targets = slices.Clone(c.Targets)
	var full []fullText
	if t, ok := clipText(orig, keep); ok {
		c.Text = t
		full = append(full, fullText{Text: orig})
	}
	for i, p := range c.Targets {
		if p.Text == orig {
			c.Targets[i].Text = c.Text // shown as the post's text, not again
			continue
		}
		if t, ok := clipText(p.Text, keep); ok {
			c.Targets[i].Text = t
			full = append(full, fullText{Target: p.Target, Text: p.Text})
		}
	}
	return c, full
}

// clipText keeps the first keep characters of s and says how many of how
// many it shows, or returns s when it has no more than keep.
func clipText(s string, keep int) (string, bool) {
	total := utf8.RuneCountInString(s)
	if total <= keep {
		return s, false
	}
	cut := 0
	for i := 0; i < keep; i++ {
		_, n := utf8.DecodeRuneInString(s[cut:])
		cut += n
	}
	return s[:cut] + "\n" + clipLine(keep, total), true
}

func clipLine(shown, total int) string {
	return fmt.Sprintf("… (clipped: %d of %d characters; full text in the thread)", shown, total)
}

// jsonLen is how many bytes r takes inside a JSON string as Go encodes it
// (with HTML escaping, as mautrix sends it).
func jsonLen(r rune) int {
	switch {
	case r == '"' || r == '\\' || r == '\n' || r == '\r' || r == '\t' || r == '\b' || r == '\f':
		return 2
	case r < 0x20 || r == '<' || r == '>' || r == '&' || r == '\u2028' || r == '\u2029' || r == utf8.RuneError:
		return 6
	default:
		return utf8.RuneLen(r)
	}
}

// chunks splits s into parts that each take at most budget bytes as JSON,
// preferring to end a part at a line break, else at a space, in its second
// half. The parts joined are s.
func chunks(s string, budget int) []string {
	var out []string
	for s != "" {
		size, cut := 0, 0
		for cut < len(s) {
			r, n := utf8.DecodeRuneInString(s[cut:])
			if size+jsonLen(r) > budget {
				break
			}
			size += jsonLen(r)
			cut += n
		}
		if cut < len(s) {
			if i := strings.LastIndexByte(s[:cut], '\n'); i >= cut/2 {
				cut = i + 1
			} else if i := strings.LastIndexByte(s[:cut], ' '); i >= cut/2 {
				cut = i + 1
			}
		}
		out = append(out, s[:cut])
		s = s[cut:]
	}
	return out
}

// fullTextHeader is the first line of each full-text message.
func fullTextHeader(number int64, ft fullText, part, parts int) string {
	h := fmt.Sprintf("📄 Full text of #%d", number)
	if ft.Target != "" {
		h += " for " + ft.Target
	}
	h += fmt.Sprintf(" (%d characters)", utf8.RuneCountInString(ft.Text))
	if parts > 1 {
		h += fmt.Sprintf(", part %d of %d", part, parts)
	}
	return h + ":"
}

// fullTextContent is one part of a full text: a plain notice in the
// card's thread that mentions nobody, whatever user ids the post names.
func fullTextContent(card id.EventID, body string) *event.MessageEventContent {
	return &event.MessageEventContent{
		MsgType:  event.MsgNotice,
		Body:     body,
		Mentions: &event.Mentions{},
		RelatesTo: &event.RelatesTo{
			Type: event.RelThread, EventID: card,
			InReplyTo: &event.InReplyTo{EventID: card}, IsFallingBack: true,
		},
	}
}

func fullTextSum(full []fullText) string {
	h := sha256.New()
	for _, ft := range full {
		fmt.Fprintf(h, "%s\x00%d\x00%s\x00", ft.Target, len(ft.Text), ft.Text)
	}
	return hex.EncodeToString(h.Sum(nil))
}

// postFullText posts the full texts of a clipped card into its thread,
// unless they were posted there already (heed's database keeps which,
// across restarts). Each part has a transaction id derived from the card,
// the texts and the part, so a part sent again after a lost answer is not
// posted twice.
func (a *Adapter) postFullText(ctx context.Context, cli *mautrix.Client, room id.RoomID, card id.EventID, number int64, full []fullText) error {
	sum := fullTextSum(full)
	key := a.key(cli.UserID, "full_text/"+string(card))
	done, err := a.state.GetKV(ctx, key)
	if err != nil {
		return err
	}
	if done == sum {
		return nil
	}
	for _, ft := range full {
		parts := chunks(ft.Text, chunkBudget)
		for i, part := range parts {
			t := sha256.Sum256([]byte(string(card) + "\x00" + sum + "\x00" + ft.Target + "\x00" + strconv.Itoa(i)))
			txn := "heed-full-" + hex.EncodeToString(t[:12])
			content := fullTextContent(card, fullTextHeader(number, ft, i+1, len(parts))+"\n"+part)
			if err := a.call(ctx, "post full text", func(ctx context.Context) error {
				_, err := cli.SendMessageEvent(ctx, room, event.EventMessage, content, mautrix.ReqSendEvent{TransactionID: txn})
				return err
			}); err != nil {
				return fmt.Errorf("matrix: full text of card #%d: %w", number, err)
			}
		}
	}
	return a.state.SetKV(ctx, key, sum)
}

// fullTextJob is a full text whose posting failed after its card was
// posted; the sync loop tries it again.
type fullTextJob struct {
	room   id.RoomID
	number int64
	full   []fullText
}

// pendFullText keeps a full text to post after the next sync.
func (a *Adapter) pendFullText(card id.EventID, job fullTextJob) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.pendingFull == nil {
		a.pendingFull = map[id.EventID]fullTextJob{}
	}
	a.pendingFull[card] = job
}

// retryFullTexts posts the full texts that could not be posted with their
// cards. One refused for good is dropped, and the log says so.
func (a *Adapter) retryFullTexts(ctx context.Context) {
	a.mu.Lock()
	jobs := a.pendingFull
	a.pendingFull = nil
	cli := a.cli
	a.mu.Unlock()
	if len(jobs) == 0 || cli == nil {
		return
	}
	for card, job := range jobs {
		err := a.postFullText(ctx, cli, job.room, card, job.number, job.full)
		switch {
		case err == nil:
		case permanent(err):
			a.log.Error("matrix: the homeserver refused the full text of a clipped card; not tried again", "card", card, "err", err)
		default:
			a.pendFullText(card, job)
		}
	}
}

// permanent reports whether the homeserver refused a request for good:
// sending the same again cannot succeed (too large, forbidden, malformed).
// Rate limits, refused tokens and server errors may pass.
func permanent(err error) bool {
	var he mautrix.HTTPError
	if !errors.As(err, &he) {
		return false
	}
	if he.RespError != nil {
		switch he.RespError.ErrCode {
		case mautrix.MTooLarge.ErrCode, mautrix.MForbidden.ErrCode, mautrix.MBadJSON.ErrCode, mautrix.MNotJSON.ErrCode:
			return true
		case mautrix.MLimitExceeded.ErrCode, mautrix.MUnknownToken.ErrCode, mautrix.MMissingToken.ErrCode:
			return false
		}
	}
	if he.Response != nil {
		switch he.Response.StatusCode {
		case http.StatusBadRequest, http.StatusForbidden, http.StatusRequestEntityTooLarge:
			return true
		}
	}
	return false
}
