package app_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/heed-dev/heed/app"
)

func writeConfig(t *testing.T, src string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "heed.yaml")
	if err := os.WriteFile(p, []byte(src), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// TestEnvValueArrivesWhole: a secret is taken as it is, whatever YAML would
// make of it as text, quoted or not.
func TestEnvValueArrivesWhole(t *testing.T) {
	for _, secret := range []string{"p@ss #word", "a: b", "*star", "'quoted'", `say "hi" \ bye`, "two\nlines",
		"- item", "0123", "bob, [carol]", "{x: 1}", "&anchor", "!tag", "%pct", "@at", "#first", " padded ", "null", "~", "yes", "1e3"} {
		t.Setenv("HEED_T_SECRET", secret)
		c, err := app.LoadConfig(writeConfig(t, "targets:\n  hook:\n    kind: log\n    plain: ${HEED_T_SECRET}\n    quoted: \"${HEED_T_SECRET}\"\n"))
		if err != nil {
			t.Errorf("%q: %v", secret, err)
			continue
		}
		var got struct {
			Plain  string `yaml:"plain"`
			Quoted string `yaml:"quoted"`
		}
		if err := c.Decoder(c.Targets["hook"])(&got); err != nil {
			t.Errorf("%q: %v", secret, err)
			continue
		}
		if got.Plain != secret || got.Quoted != secret {
			t.Errorf("%q arrived as %q unquoted and %q quoted", secret, got.Plain, got.Quoted)
		}
	}
}

// TestEnvExpandsAfterParsing: references expand in heed's own keys and in
// the settings a chat or target decodes later, keep a number's or a
// boolean's type when they stand alone, and are not read in comments.
func TestEnvExpandsAfterParsing(t *testing.T) {
	secrets := map[string]string{
		"HEED_T_HASH":   "p@ss #word",
		"HEED_T_COLON":  "a: b",
		"HEED_T_STAR":   "*star",
		"HEED_T_QUOTED": "'quoted'",
		"HEED_T_DOUBLE": `say "hi" \ bye`,
		"HEED_T_LINES":  "two\nlines",
		"HEED_T_DASH":   "- item",
		"HEED_T_NUMBER": "0123",
		"HEED_T_ALICE":  "alice",
		"HEED_T_BOB":    "bob, [carol]",
		"HEED_T_ZONE":   "Europe/Berlin",
		"HEED_T_N":      "3",
		"HEED_T_YES":    "true",
		"HEED_T_RATE":   "0.5",
		"HEED_T_WINDOW": "48h",
	}
	for k, v := range secrets {
		t.Setenv(k, v)
	}
	c, err := app.LoadConfig(writeConfig(t, `# a comment with ${HEED_T_UNSET} is not read
zone: ${HEED_T_ZONE}
workers: ${HEED_T_N}
review_window: ${HEED_T_WINDOW}
rooms:
  - name: social
    chat: console
    id: console
    approvers: [${HEED_T_ALICE}, "${HEED_T_BOB}"]
    everyone: ${HEED_T_YES}
targets:
  hook:
    kind: webhook
    url: https://example.org/${HEED_T_ALICE}
    rate_limit: ${HEED_T_RATE}
    hash: ${HEED_T_HASH}
    colon: ${HEED_T_COLON}
    star: ${HEED_T_STAR}
    quoted: ${HEED_T_QUOTED}
    double: "${HEED_T_DOUBLE}"
    lines: ${HEED_T_LINES}
    dash: ${HEED_T_DASH}
    number: ${HEED_T_NUMBER}
    inline: user ${HEED_T_ALICE} # and ${HEED_T_UNSET} in a comment
    block: |
      ${HEED_T_HASH}
      ${HEED_T_COLON}
`))
	if err != nil {
		t.Fatal(err)
	}
	if c.Zone != "Europe/Berlin" || c.Workers != 3 || c.ReviewWindow.Or(0).String() != "48h0m0s" {
		t.Errorf("zone %q, workers %d, review window %v", c.Zone, c.Workers, c.ReviewWindow.Or(0))
	}
	r := c.Rooms[0]
	if len(r.Approvers) != 2 || r.Approvers[0] != "alice" || r.Approvers[1] != "bob, [carol]" || !r.Everyone {
		t.Errorf("room: approvers %q, everyone %v", r.Approvers, r.Everyone)
	}
	hook := c.Targets["hook"]
	if hook["rate_limit"] != 0.5 {
		t.Errorf("rate_limit %#v, want the number 0.5", hook["rate_limit"])
	}
	var got struct {
		URL       string  `yaml:"url"`
		RateLimit float64 `yaml:"rate_limit"`
		Hash      string  `yaml:"hash"`
		Colon     string  `yaml:"colon"`
		Star      string  `yaml:"star"`
		Quoted    string  `yaml:"quoted"`
		Double    string  `yaml:"double"`
		Lines     string  `yaml:"lines"`
		Dash      string  `yaml:"dash"`
		Number    string  `yaml:"number"`
		Inline    string  `yaml:"inline"`
		Block     string  `yaml:"block"`
	}
	if err := c.Decoder(hook)(&got); err != nil {
		t.Fatal(err)
	}
	want := map[string][2]string{
		"url":    {got.URL, "https://example.org/alice"},
		"hash":   {got.Hash, "p@ss #word"},
		"colon":  {got.Colon, "a: b"},
		"star":   {got.Star, "*star"},
		"quoted": {got.Quoted, "'quoted'"},
		"double": {got.Double, `say "hi" \ bye`},
		"lines":  {got.Lines, "two\nlines"},
		"dash":   {got.Dash, "- item"},
		"number": {got.Number, "0123"},
		"inline": {got.Inline, "user alice"},
		"block":  {got.Block, "p@ss #word\na: b\n"},
	}
	for key, w := range want {
		if w[0] != w[1] {
			t.Errorf("%s = %q, want %q", key, w[0], w[1])
		}
	}
}

// TestEnvErrorsNameTheLineAndNeverTheValue: an unset variable is named
// with its line; a value that does not fit its key is reported without
// the value.
func TestEnvErrorsNameTheLineAndNeverTheValue(t *testing.T) {
	_, err := app.LoadConfig(writeConfig(t, "zone: UTC\ntargets:\n  log:\n    kind: log\n    file: [${HEED_T_UNSET_A}]\n    x: |\n      ${HEED_T_UNSET_B}\n"))
	if err == nil || !strings.Contains(err.Error(), "line 5: ${HEED_T_UNSET_A} is not set") || !strings.Contains(err.Error(), "line 7: ${HEED_T_UNSET_B} is not set") {
		t.Fatalf("unset variables: %v", err)
	}
	_, err = app.LoadConfig(writeConfig(t, "targets:\n  ${HEED_T_NAME}:\n    kind: log\n"))
	if err == nil || !strings.Contains(err.Error(), "line 2: ${HEED_T_NAME} is a key: ${NAME} is replaced in values only") {
		t.Fatalf("a reference in a key: %v", err)
	}
	const secret = "s3cr3t #not: a-duration"
	t.Setenv("HEED_T_SECRET", secret)
	for _, src := range []string{
		"review_window: ${HEED_T_SECRET}\n",
		"review_window: \"${HEED_T_SECRET}\"\n",
		"workers: ${HEED_T_SECRET}\n",
		"rooms:\n  - name: r\n    id: console\n    everyone: ${HEED_T_SECRET}\n",
		"tripwire:\n  feeds:\n    - name: x\n      url: ${HEED_T_SECRET}\n      bogus: 1\n",
	} {
		_, err := app.LoadConfig(writeConfig(t, src))
		if err == nil {
			t.Errorf("%q accepted", src)
			continue
		}
		if strings.Contains(err.Error(), "s3cr3t") || !strings.Contains(err.Error(), "${HEED_T_SECRET}") {
			t.Errorf("%q: the error shows the secret, or not the file as written:\n%v", src, err)
		}
	}
}

// TestConfigRefusesAPolicyThatCannotWork: a room whose emoji or numbers
// cannot work as written is refused at start-up, saying what to fix.
func TestConfigRefusesAPolicyThatCannotWork(t *testing.T) {
	const slack = "chats:\n  slack:\n    kind: slack\n    bot_token: xoxb-1\n    app_token: xapp-1\n"
	const matrix = "chats:\n  matrix:\n    kind: matrix\n    homeserver: https://m.example.org\n    access_token: t\n"
	room := func(extra string) string { return "rooms:\n  - name: social\n    id: console\n" + extra }
	bad := map[string]string{
		room("    approvers: [alice]\n    approve_emoji: [✅, 👎]\n"):                                     "rooms[0] (social) approve_emoji: 👎 is also in the default reject_emoji (❌ 👎)",
		room("    approvers: [alice]\n    approve_emoji: [white_check_mark]\n    reject_emoji: [✅️]\n"): "✅ is also in reject_emoji",
		room("    approvers: [alice]\n    approve_emoji: [👍🏽]\n    reject_emoji: [\"+1\"]\n"):           "👍 is also in reject_emoji",
		room("    approvers: [alice]\n    approve_emoji: [✅, 🛑]\n"):                                     "approve_emoji: 🛑 holds one post when anyone reacts with it",
		room("    approvers: [alice]\n    approve_emoji: [octagonal_sign]\n"):                           "approve_emoji: 🛑 holds one post",
		room("    approvers: [alice]\n    approve_emoji: [🗑️]\n"):                                       "approve_emoji: 🗑 retracts a published post",
		room("    approvers: [alice]\n    approve_emoji: [wastebasket]\n"):                              "approve_emoji: 🗑 retracts",
		room("    approvers: [alice, bob, alice]\n    required: 3\n"):                                   "rooms[0] (social) required: 3 approvals needed, but only 2 people may ever approve here (alice, bob)",
		room("    approvers: [alice, bob]\n    sensitive_required: 3\n"):                                "sensitive_required: 3 approvals needed, but only 2",
		room("    approver: [alice]\n"):                                                                 `unknown field "approver"`,
		slack + "    channels:\n      - id: C0SOCIAL1\n        approvers: [U0BOB0001]\nrooms:\n  - name: social\n    id: C0SOCIAL1\n    approvers: [U0ALICE01]\n    required: 3\n": "required: 3 approvals needed, but only 2 people may ever approve here (U0ALICE01, U0BOB0001)",
		slack + "rooms:\n  - name: social\n    id: C0SOCIAL1\n": "rooms[0] (social): nobody may approve",
		matrix + "    rooms:\n      - id: \"!r:m.example.org\"\n        approvers: [\"@b:m.example.org\"]\nrooms:\n  - name: social\n    id: \"!r:m.example.org\"\n    required: 2\n": "required: 2 approvals needed, but only 1",
		"series_cards: -1\n": "series_cards",
	}
	for src, want := range bad {
		_, err := app.LoadConfig(writeConfig(t, src))
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s\nerr = %v\nwant %q", src, err, want)
		}
	}
	good := []string{
		room("    approvers: [alice, bob]\n    required: 2\n    sensitive_required: 2\n    approve_emoji: [✅]\n    reject_emoji: [❌]\n"),
		room("    everyone: true\n    required: 5\n"),
		slack + "    channels:\n      - id: C0SOCIAL1\n        approver_groups: [S0EDITORS]\nrooms:\n  - name: social\n    id: C0SOCIAL1\n    required: 4\n",
		slack + "    channels:\n      - id: C0SOCIAL1\n        approvers: [U0BOB0001]\nrooms:\n  - name: social\n    id: C0SOCIAL1\n    approvers: [U0ALICE01]\n    required: 2\n",
		matrix + "    rooms:\n      - id: \"!r:m.example.org\"\n        approver_power_level: 50\nrooms:\n  - name: social\n    id: \"!r:m.example.org\"\n    required: 3\n",
		"series_cards: 5\n",
	}
	for _, src := range good {
		if _, err := app.LoadConfig(writeConfig(t, src)); err != nil {
			t.Errorf("%s\nrefused: %v", src, err)
		}
	}
}
