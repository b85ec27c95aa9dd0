package httpx

import (
	"encoding/json"
	"net/url"
	"sort"
	"strings"
)

// Redacted is what Redact puts in place of a secret.
const Redacted = "[redacted]"

// Redact replaces every occurrence of each secret in s, including its URL-
// and JSON-escaped forms (a network may quote a token back in either).
// Empty secrets are ignored. Longer secrets are replaced first, so a secret
// that contains another is removed whole.
func Redact(s string, secrets ...string) string {
	var forms []string
	for _, sec := range secrets {
		if sec == "" {
			continue
		}
		forms = append(forms, sec)
		if q := url.QueryEscape(sec); q != sec {
			forms = append(forms, q)
		}
		if p := url.PathEscape(sec); p != sec {
			forms = append(forms, p)
		}
		if j, err := json.Marshal(sec); err == nil {
			if js := string(j[1 : len(j)-1]); js != sec {
				forms = append(forms, js)
			}
		}
	}
	sort.SliceStable(forms, func(i, j int) bool { return len(forms[i]) > len(forms[j]) })
	for _, f := range forms {
		s = strings.ReplaceAll(s, f, Redacted)
	}
	return s
}
