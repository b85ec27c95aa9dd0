package httpx

import (
	"encoding/json"
	"mime"
	"strconv"
	"strings"
	"unicode/utf8"
)

// maxMessage bounds the network's message in an error: enough for any real
// explanation, not enough to drag a whole error page into the card.
const maxMessage = 300

// errorMessage pulls the network's machine code and human message out of an
// error answer. It knows the common JSON shapes:
//
//	{"error":"text"}                                 Mastodon
//	{"errcode":"M_FORBIDDEN","error":"text"}         Matrix
//	{"error":"code","error_description":"text"}      OAuth 2.0
//	{"error":"Code","message":"text"}                AT Protocol (Bluesky)
//	{"code":"CODE","message":"text"}                 LinkedIn
//	{"errors":[{"code":187,"message":"text"}]}       X v1.1, X v2, many others
//	{"title":"T","detail":"text"}                    RFC 9457 problem details (X v2)
//	{"error":{"type":"OAuthException","message":"text"}}  Graph API (Facebook)
//
// Only those fields are read, so nothing else the network echoes (request
// headers, say) can reach the message. A plain-text answer contributes its
// first line; HTML and anything else contribute nothing.
func errorMessage(contentType string, body []byte) (code, message string) {
	var m map[string]any
	if err := json.Unmarshal(body, &m); err != nil {
		mt, _, _ := mime.ParseMediaType(contentType)
		if mt == "text/plain" && utf8.Valid(body) {
			line, _, _ := strings.Cut(strings.TrimSpace(string(body)), "\n")
			return "", line
		}
		return "", ""
	}

	str := func(v any) string {
		switch v := v.(type) {
		case string:
			return v
		case float64:
			return strconv.FormatFloat(v, 'f', -1, 64)
		}
		return ""
	}

	switch {
	case isObject(m["error"]):
		e := m["error"].(map[string]any)
		code = str(e["type"])
		if code == "" {
			code = str(e["code"])
		}
		message = str(e["message"])
	case isNonEmptyArray(m["errors"]):
		switch first := m["errors"].([]any)[0].(type) {
		case map[string]any:
			code = str(first["code"])
			message = str(first["message"])
			if message == "" {
				message = str(first["detail"])
			}
		case string:
			message = first
		}
	case str(m["message"]) != "":
		message = str(m["message"])
		code = str(m["error"])
		if code == "" {
			code = str(m["code"])
		}
	case str(m["error_description"]) != "":
		message = str(m["error_description"])
		code = str(m["error"])
	case str(m["error"]) != "":
		message = str(m["error"])
		code = str(m["errcode"])
	case str(m["detail"]) != "":
		message = str(m["detail"])
		code = str(m["title"])
	case str(m["title"]) != "":
		message = str(m["title"])
	}
	return code, message
}

func isObject(v any) bool {
	_, ok := v.(map[string]any)
	return ok
}

func isNonEmptyArray(v any) bool {
	a, ok := v.([]any)
	return ok && len(a) > 0
}

// clean folds whitespace so a message stays on one line, and shortens it.
// It runs after Redact: shortening first could cut a token in two and leave
// a prefix that Redact no longer recognises.
func clean(s string) string {
	s = strings.Join(strings.Fields(s), " ")
	if utf8.RuneCountInString(s) <= maxMessage {
		return s
	}
	r := []rune(s)
	return string(r[:maxMessage]) + "…"
}
