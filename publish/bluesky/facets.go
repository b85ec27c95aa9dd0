package bluesky

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"regexp"
	"sort"
	"strings"
	"sync"
	"unicode"
	"unicode/utf16"

	"mvdan.cc/xurls/v2"

	"github.com/heed-dev/heed/publish/httpx"
)

// Facet detection follows the Bluesky app's own (detectFacets in
// @atproto/api's rich-text module, described in the docs' "Links, mentions,
// and rich text" guide), so a post made by heed is decorated the way the
// same text typed into the app would be. Offsets are UTF-8 byte offsets
// into the text, start inclusive, end exclusive.

type facet struct {
	Index    byteSlice `json:"index"`
	Features []feature `json:"features"`
}

type byteSlice struct {
	ByteStart int `json:"byteStart"`
	ByteEnd   int `json:"byteEnd"`
}

// feature is one of app.bsky.richtext.facet#mention, #link and #tag.
type feature struct {
	Type string `json:"$type"`
	DID  string `json:"did,omitempty"`
	URI  string `json:"uri,omitempty"`
	Tag  string `json:"tag,omitempty"`
}

const (
	featureMention = "app.bsky.richtext.facet#mention"
	featureLink    = "app.bsky.richtext.facet#link"
	featureTag     = "app.bsky.richtext.facet#tag"
	// maxTagLength is the app's limit on a hashtag (UTF-16 units, as the
	// app measures it); a longer one is left as plain text.
	maxTagLength = 64
)

var (
	mentionRe = regexp.MustCompile(`(^|\s|\()@([a-zA-Z0-9.-]+)\b`)
	linkRe    = regexp.MustCompile(`(?i)(^|\s|\()((https?://\S+)|(([a-z][a-z0-9]*(?:\.[a-z0-9]+)+)\S*))`)
	// tagRe is the app's TAG_REGEX without its (?!\ufe0f) look-ahead, which
	// detectTags applies by hand.
	tagRe = regexp.MustCompile(`(^|\s)[#＃]([^\s\x{00AD}\x{2060}\x{200A}\x{200B}\x{200C}\x{200D}\x{20E2}]*[^\d\s\p{P}\x{00AD}\x{2060}\x{200A}\x{200B}\x{200C}\x{200D}\x{20E2}]+[^\s\x{00AD}\x{2060}\x{200A}\x{200B}\x{200C}\x{200D}\x{20E2}]*)?`)
	// handleRe is the AT Protocol handle syntax (atproto.com/specs/handle).
	handleRe = regexp.MustCompile(`^([a-zA-Z0-9]([a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?\.)+[a-zA-Z]([a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?$`)
)

// detected is a facet found in a text before mentions are resolved: for a
// mention, Handle is set and the DID is looked up at publish time.
type detected struct {
	start, end int
	handle     string
	uri        string
	tag        string
}

// detect finds mentions, links and hashtags in text, in text order.
func detect(text string) []detected {
	var out []detected
	for _, m := range mentionRe.FindAllStringSubmatchIndex(text, -1) {
		handle := text[m[4]:m[5]]
		if !validHandle(handle) {
			continue
		}
		out = append(out, detected{start: m[4] - 1, end: m[5], handle: strings.ToLower(handle)})
	}
	for _, m := range linkRe.FindAllStringSubmatchIndex(text, -1) {
		start, end := m[4], m[5]
		uri := text[start:end]
		if m[6] < 0 { // no scheme: only a real domain is a link
			if !isTLD(lastLabel(text[m[10]:m[11]])) {
				continue
			}
			uri = "https://" + uri
		}
		// As the app does: a sentence's closing punctuation is not part of
		// the link, nor is a closing parenthesis that opens nowhere in it.
		if strings.ContainsAny(uri[len(uri)-1:], ".,;!?") {
			uri, end = uri[:len(uri)-1], end-1
		}
		if strings.HasSuffix(uri, ")") && !strings.Contains(uri, "(") {
			uri, end = uri[:len(uri)-1], end-1
		}
		out = append(out, detected{start: start, end: end, uri: uri})
	}
	for _, m := range tagRe.FindAllStringSubmatchIndex(text, -1) {
		if m[4] < 0 {
			continue
		}
		tag := text[m[4]:m[5]]
		if strings.HasPrefix(tag, "\uFE0F") {
			continue // the app's (?!\ufe0f): "#️⃣" is a keycap, not a tag
		}
		tag = strings.TrimRightFunc(tag, unicode.IsPunct)
		if tag == "" || utf16Len(tag) > maxTagLength {
			continue
		}
		// The facet starts at the "#" (or "＃"), right after group 1.
		out = append(out, detected{start: m[3], end: m[4] + len(tag), tag: tag})
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].start < out[j].start })
	return dropOverlaps(out)
}

// dropOverlaps keeps the first of facets that overlap ("@a.com" is a
// mention, not also a link to a.com).
func dropOverlaps(ds []detected) []detected {
	var out []detected
	for _, d := range ds {
		if len(out) > 0 && d.start < out[len(out)-1].end {
			continue
		}
		out = append(out, d)
	}
	return out
}

// detectFacets turns what detect finds into facets, resolving each
// mentioned handle to its DID. A handle that does not resolve stays plain
// text, as in the app.
func (p *Publisher) detectFacets(ctx context.Context, text string) ([]facet, error) {
	var out []facet
	dids := map[string]string{}
	for _, d := range detect(text) {
		f := facet{Index: byteSlice{ByteStart: d.start, ByteEnd: d.end}}
		switch {
		case d.handle != "":
			did, ok := dids[d.handle]
			if !ok {
				var err error
				if did, err = p.resolveHandle(ctx, d.handle); err != nil {
					return nil, err
				}
				dids[d.handle] = did
			}
			if did == "" {
				continue
			}
			f.Features = []feature{{Type: featureMention, DID: did}}
		case d.uri != "":
			f.Features = []feature{{Type: featureLink, URI: d.uri}}
		default:
			f.Features = []feature{{Type: featureTag, Tag: d.tag}}
		}
		out = append(out, f)
	}
	return out, nil
}

// resolveHandle looks a handle up (com.atproto.identity.resolveHandle). An
// unknown handle gives "" and no error.
func (p *Publisher) resolveHandle(ctx context.Context, handle string) (string, error) {
	var out struct {
		DID string `json:"did"`
	}
	err := p.call(ctx, nil, http.MethodGet, "com.atproto.identity.resolveHandle", url.Values{"handle": {handle}}, nil, &out)
	var se *httpx.StatusError
	if errors.As(err, &se) && (se.StatusCode == http.StatusBadRequest || se.StatusCode == http.StatusNotFound) {
		p.log.Info("bluesky: mentioned handle does not resolve; left as text", "target", p.target, "handle", handle)
		return "", nil
	}
	if err != nil {
		return "", err
	}
	return out.DID, nil
}

func validHandle(h string) bool {
	if len(h) > 253 || !handleRe.MatchString(h) {
		return false
	}
	return isTLD(lastLabel(h)) || strings.HasSuffix(strings.ToLower(h), ".test")
}

func lastLabel(domain string) string {
	return domain[strings.LastIndexByte(domain, '.')+1:]
}

var (
	tldOnce sync.Once
	tlds    map[string]bool
)

func isTLD(label string) bool {
	tldOnce.Do(func() {
		tlds = make(map[string]bool, len(xurls.TLDs))
		for _, t := range xurls.TLDs {
			tlds[t] = true
		}
	})
	return tlds[strings.ToLower(label)]
}

func utf16Len(s string) int {
	n := 0
	for _, r := range s {
		n += max(1, utf16.RuneLen(r))
	}
	return n
}
