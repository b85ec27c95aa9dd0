package approvals

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"strings"
	"testing"
	"time"
)

// The payload hash covers an image's bytes through its SHA-256, and a
// payload stored before images had one hashes as it did then.
func TestPayloadHashCoversImageBytes(t *testing.T) {
	at := time.Date(2030, 1, 7, 9, 0, 0, 0, time.UTC)
	old := Payload{Target: "rec", Text: "cat", Media: []Media{{Path: "cat.png", Alt: "a cat"}}, At: at}
	// The hash as it was computed before Media had SHA256, Size and Type.
	b, _ := json.Marshal(struct {
		Target string `json:"target"`
		Text   string `json:"text"`
		Link   string `json:"link"`
		Media  []struct {
			Path string `json:"path"`
			Alt  string `json:"alt,omitempty"`
		} `json:"media"`
		At int64 `json:"at"`
	}{"rec", "cat", "", []struct {
		Path string `json:"path"`
		Alt  string `json:"alt,omitempty"`
	}{{"cat.png", "a cat"}}, at.Unix()})
	sum := sha256.Sum256(b)
	if got, want := old.Hash(), hex.EncodeToString(sum[:16]); got != want {
		t.Fatalf("hash of a payload with media stored before hashes: %s, want %s as before", got, want)
	}
	a, b2 := old, old
	a.Media = []Media{{Path: "cat.png", Alt: "a cat", SHA256: strings.Repeat("a", 64), Size: 3, Type: "image/png"}}
	b2.Media = []Media{{Path: "cat.png", Alt: "a cat", SHA256: strings.Repeat("b", 64), Size: 3, Type: "image/png"}}
	if a.Hash() == b2.Hash() || a.Hash() == old.Hash() {
		t.Errorf("payloads whose images' bytes differ hash alike")
	}
	if probs := MediaProblems(old); len(probs) != 1 || !strings.Contains(probs[0], "edit the post to add the image again") {
		t.Errorf("MediaProblems of an image without a copy: %q", probs)
	}
	if probs := MediaProblems(a); len(probs) != 0 {
		t.Errorf("MediaProblems of a stored image: %q", probs)
	}
}
