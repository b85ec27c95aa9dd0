package app_test

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/heed-dev/heed/app"
)

// TestDeadlineSettingsAreChecked: approve_by, remind_every and escalate_to
// that cannot work are refused with the room and the field named; ones
// that can reach the room's safeguards.
func TestDeadlineSettingsAreChecked(t *testing.T) {
	const slack = "chats:\n  slack:\n    kind: slack\n    bot_token: xoxb-1\n    app_token: xapp-1\n"
	const matrix = "chats:\n  matrix:\n    kind: matrix\n    homeserver: https://m.example.org\n    access_token: t\n"
	console := func(extra string) string {
		return "people:\n  carol: [carol, U0CAROL01]\nrooms:\n  - name: social\n    id: console\n    approvers: [alice]\n" + extra
	}
	slackRoom := func(extra string) string {
		return slack + "rooms:\n  - name: social\n    id: C0SOCIAL1\n    approvers: [U0ALICE01]\n" + extra
	}
	matrixRoom := func(extra string) string {
		return matrix + "rooms:\n  - name: social\n    id: \"!r:m.example.org\"\n    approvers: [\"@a:m.example.org\"]\n" + extra
	}
	bad := map[string]string{
		console("    approve_by: soon\n"):                                      `rooms[0] (social) approve_by: "soon" is not a duration`,
		console("    approve_by: 2h\n    remind_every: often\n"):               `rooms[0] (social) remind_every: "often" is not a duration`,
		console("    approve_by: -2h\n"):                                       "rooms[0] (social) approve_by: -2h0m0s",
		console("    approve_by: 2h\n    remind_every: 1m\n"):                  "rooms[0] (social) remind_every: 1m0s is too often: give 5m0s or more",
		console("    approve_by: 2h\n    remind_every: -30m\n"):                "rooms[0] (social) remind_every",
		console("    remind_every: 30m\n"):                                     "rooms[0] (social) remind_every: reminders start at approve_by, which is not set",
		console("    escalate_to: [carol]\n"):                                  "rooms[0] (social) escalate_to: escalation comes with the last reminder, and approve_by is not set",
		console("    approve_by: 2h\n    escalate_to: [100]\n"):                `rooms[0] (social) escalate_to: "100" is not a name as people type it in the console`,
		console("    approve_by: 2h\n    escalate_to: [\"\"]\n"):               "rooms[0] (social) escalate_to: an entry is empty",
		console("    approve_by: 2h\n    escalate_to: carol\n"):                "escalate_to: give a list",
		slackRoom("    approve_by: 2h\n    escalate_to: [\"@carol\"]\n"):       `rooms[0] (social) escalate_to: "@carol" is not a Slack user id (U0123ABC), a user group id (S0123ABC) or one of the people`,
		slackRoom("    approve_by: 2h\n    escalate_to: [50]\n"):               `rooms[0] (social) escalate_to: "50" is not a Slack user id`,
		matrixRoom("    approve_by: 2h\n    escalate_to: [U0CAROL01]\n"):       `rooms[0] (social) escalate_to: "U0CAROL01" is not a Matrix user id (@carol:example.org), a power level (such as 100) or one of the people`,
		matrixRoom("    approve_by: 2h\n    escalate_to: [S0EDITORS]\n"):       `"S0EDITORS" is not a Matrix user id`,
		matrixRoom("    approve_by: 2h\n    escalate_to: [\"carol:x.org\"]\n"): `"carol:x.org" is not a Matrix user id`,
	}
	for src, want := range bad {
		_, err := app.LoadConfig(writeConfig(t, src))
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s\nerr = %v\nwant %q", src, err, want)
		}
	}
	good := map[string][]string{
		console("    approve_by: 2h\n    remind_every: 30m\n    escalate_to: [carol, dave]\n"):                      {"carol", "dave"},
		slackRoom("    approve_by: 2h\n    remind_every: 5m\n    escalate_to: [U0CAROL01, W0DAVE001, S0EDITORS]\n"): {"U0CAROL01", "W0DAVE001", "S0EDITORS"},
		matrixRoom("    approve_by: 90m\n    escalate_to: [\"@carol:m.example.org\", 100]\n"):                       {"@carol:m.example.org", "100"},
		console("    approve_by: 0\n"): nil,
	}
	for src, want := range good {
		c, err := app.LoadConfig(writeConfig(t, src))
		if err != nil {
			t.Errorf("%s\nrefused: %v", src, err)
			continue
		}
		g, err := c.Safeguards()
		if err != nil {
			t.Fatal(err)
		}
		rs := g.Room("social")
		if !slices.Equal(rs.EscalateTo, want) {
			t.Errorf("%s\nescalate_to = %q, want %q", src, rs.EscalateTo, want)
		}
		if strings.Contains(src, "approve_by: 2h") && rs.ApproveBy != 2*time.Hour {
			t.Errorf("%s\napprove_by = %s", src, rs.ApproveBy)
		}
	}
}
