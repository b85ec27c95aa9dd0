package bot

import (
	"strings"
	"testing"
	"time"

	"github.com/heed-dev/heed/approvals"
)

type slackStyle struct{}

func (slackStyle) Mention(user string) string { return "<@" + user + ">" }

func TestLastCallMentionsApproversInTheChatsSyntax(t *testing.T) {
	now := time.Date(2030, 1, 7, 9, 45, 0, 0, time.UTC)
	v := approvals.View{Occurrence: approvals.Occurrence{ID: 3, At: now.Add(15 * time.Minute)},
		Post: approvals.Post{Targets: []string{"mastodon", "bluesky"}}}
	v.Verdict.Approvals = []approvals.Reaction{{User: "U0ALICE01", UserName: "@alice"}, {User: "U0BOB0002", UserName: "@bob"}}
	if got := LastCallText(v, now, time.UTC, nil); !strings.HasPrefix(got, "@alice @bob: ⏰ #3: going out at 10:00 (in 15 min) to mastodon, bluesky.") {
		t.Fatalf("without a mentioner: %q", got)
	}
	if got := LastCallText(v, now, time.UTC, slackStyle{}); !strings.HasPrefix(got, "<@U0ALICE01> <@U0BOB0002>: ⏰ #3") {
		t.Fatalf("with Slack mentions: %q", got)
	}
}
