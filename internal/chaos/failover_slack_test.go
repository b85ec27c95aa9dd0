package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/heed-dev/heed/bot/slack/slackfake"
	"github.com/heed-dev/heed/internal/pgtest"
)

// slackCards are heed's cards of occurrence n in the fake's channel.
func slackCards(f *slackfake.Fake, ch string, n int64) []slackfake.Message {
	var out []slackfake.Message
	for _, m := range f.Messages(ch) {
		if m.Metadata != nil && m.Metadata.EventType == "heed_card" {
			if occ, _ := m.Metadata.EventPayload["occurrence"].(float64); int64(occ) == n {
				out = append(out, m)
			}
		}
	}
	return out
}

// TestFailoverRealReplicasSlack: the Matrix failover test with Slack in
// Socket Mode. Three real `heed run` replicas reach the
// Slack fake (bot/slack/slackfake, a server on 127.0.0.1) through the
// chat's api_url; the replica holding the socket is SIGKILLed, bob types
// `pause` while no replica is connected, another replica connects within
// twice chat_lease and reads the pause before anything publishes: the
// approved post due just after the kill is held, the webhook receiver
// gets nothing, and the card is in the channel once.
func TestFailoverRealReplicasSlack(t *testing.T) {
	ctx := t.Context()
	failoverLease := *failoverLeaseFlag
	const (
		ch    = "CREVIEW"
		alice = "UALICE"
		bob   = "UBOB"
	)
	sf := slackfake.New(t, slackfake.Options{})
	o := sf.Options()
	sf.AddUser(slackfake.User{ID: alice, Name: "alice", RealName: "Alice"})
	sf.AddUser(slackfake.User{ID: bob, Name: "bob", RealName: "Bob"})
	sf.AddChannel(ch, "social-review", alice, bob, o.BotUserID)
	url := pgtest.URL(t)

	f := &fleet{t: t, bin: buildHeed(t), dir: t.TempDir(), procs: make([]*proc, 3)}
	var err error
	if f.host, err = os.Hostname(); err != nil {
		t.Fatal(err)
	}
	recv, err := newReceiver(secret, keyedTarget, 0, 0, 1, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(recv.close)
	f.cfg = filepath.Join(f.dir, "heed.yaml")
	cfg := fmt.Sprintf(`database: %s
zone: UTC
last_call: 0
chat_lease: %s
people:
  %s: [%s]
chats:
  slack:
    kind: slack
    mode: socket
    bot_token: ${HEED_TEST_SLACK_BOT_TOKEN}
    app_token: ${HEED_TEST_SLACK_APP_TOKEN}
    api_url: %s
    channels:
      - id: %s
        approvers: [%s]
rooms:
  - name: review
    chat: slack
    id: %s
targets:
  %s:
    kind: webhook
    url: %s
    secret: ${HEED_WEBHOOK_SECRET}
`, url, failoverLease, author, author, sf.APIURL(), ch, alice, ch, plainTarget, recv.URL(plainTarget))
	f.launch(t, ctx, url, cfg, "HEED_WEBHOOK_SECRET="+secret, "HEED_TEST_SLACK_BOT_TOKEN="+o.BotToken,
		"HEED_TEST_SLACK_APP_TOKEN="+o.AppToken)
	f.heard(ctx, "slack", time.Minute) // a replica holds the chat and heard it

	// The time to add and approve it, on a loaded machine, is 20 s.
	due := time.Now().Add(20*time.Second + failoverLease).Truncate(time.Second)
	killAt := due.Add(-failoverLease / 2 * 5 / 4)
	text := "failover post on Slack"
	if out, err := f.cli(ctx, "post", "add", "--as", author, "--at", due.UTC().Format(time.RFC3339), "--to", plainTarget, "--text", text); err != nil {
		t.Fatalf("heed post add: %v\n%s", err, out)
	}
	var n int64
	if err := f.db.queryRow(ctx, `SELECT id FROM posts WHERE text = ?`, text).Scan(&n); err != nil {
		t.Fatal(err)
	}
	var card slackfake.Message
	f.until(ctx, 30*time.Second, "the card", func() (bool, error) {
		cs := slackCards(sf, ch, n)
		if len(cs) > 0 {
			card = cs[0]
		}
		return len(cs) > 0, nil
	})
	sf.React(alice, ch, card.TS, "white_check_mark")
	f.until(ctx, 30*time.Second, "the post approved", func() (bool, error) {
		c, err := f.db.count(ctx, `SELECT count(*) FROM occurrences WHERE id = ? AND state = 'approved'`, n)
		return c == 1, err
	})
	if time.Now().After(killAt) {
		t.Fatalf("the post was approved %s after the moment set for the kill; the machine is too slow for this test's schedule", time.Since(killAt))
	}
	t.Logf("approved %s before the kill", time.Until(killAt).Round(time.Millisecond))
	if err := sleepUntil(ctx, killAt); err != nil {
		t.Fatal(err)
	}
	holder, _ := f.heard(ctx, "slack", time.Second)
	killed, took, answered := f.killSlackHolder(ctx, sf, holder, "pause failover drill", "Paused all publishing")
	t.Logf("Slack trial 1: socket taken over %s after the kill, pause answered %s after it", took.Sub(killed).Round(time.Millisecond), answered.Sub(killed).Round(time.Millisecond))
	if took.Sub(killed) > 2*failoverLease {
		t.Errorf("the chat was taken over %s after its holder was killed, more than twice chat_lease (%s)", took.Sub(killed), 2*failoverLease)
	}
	if err := sleepUntil(ctx, due.Add(2*time.Second)); err != nil {
		t.Fatal(err)
	}
	f.until(ctx, 20*time.Second, "the post held, its card edited", func() (bool, error) {
		c, err := f.db.count(ctx, `SELECT count(*) FROM occurrences WHERE id = ? AND state = 'held'`, n)
		m, ok := sf.Message(ch, card.TS)
		return c == 1 && ok && strings.Contains(m.AllText(), "HELD"), err
	})
	if got := recv.snapshot(); len(got) != 0 {
		t.Errorf("the webhook received %d requests, want none: %+v", len(got), got)
	}
	if cs := slackCards(sf, ch, n); len(cs) != 1 {
		t.Errorf("the card was posted %d times in the channel, want once", len(cs))
	}
	f.start(ctx, holder) // back to three

	// Further trials, as with Matrix: kill each holder, type `status`.
	takeovers, answers := []time.Duration{took.Sub(killed)}, []time.Duration{answered.Sub(killed)}
	for trial := 2; trial <= *failoverTrials; trial++ {
		holder, _ = f.heard(ctx, "slack", 30*time.Second)
		killed, took, answered = f.killSlackHolder(ctx, sf, holder, "status", "paused by")
		takeovers, answers = append(takeovers, took.Sub(killed)), append(answers, answered.Sub(killed))
		t.Logf("Slack trial %d: socket taken over %s after the kill, `status` answered %s after it", trial, took.Sub(killed).Round(time.Millisecond), answered.Sub(killed).Round(time.Millisecond))
		if took.Sub(killed) > 2*failoverLease {
			t.Errorf("trial %d: the chat was taken over %s after its holder was killed, more than twice chat_lease (%s)", trial, took.Sub(killed), 2*failoverLease)
		}
		f.start(ctx, holder)
	}
	t.Logf("%d Slack takeovers with chat_lease %s: lease taken p50 %s max %s; command answered p50 %s max %s",
		len(takeovers), failoverLease, p50(takeovers), slices.Max(takeovers).Round(time.Millisecond), p50(answers), slices.Max(answers).Round(time.Millisecond))
}

// killSlackHolder SIGKILLs the replica in slot, has bob type text in the
// channel at once (the fake delivers it once a replica connects), and
// returns when the kill was, when another replica took the chat (its
// lease's since), and when the bot's answer containing want was posted
// (its ts, stamped by the fake on this machine's clock).
func (f *fleet) killSlackHolder(ctx context.Context, sf *slackfake.Fake, slot int, text, want string) (killed, took, answered time.Time) {
	f.t.Helper()
	const ch, bob = "CREVIEW", "UBOB"
	p := f.procs[slot]
	dead := p.cmd.Process.Pid
	killed = time.Now()
	p.cmd.Process.Kill()
	<-p.done
	sf.Say(bob, ch, text)
	wait := 30*time.Second + 2*(*failoverLeaseFlag)
	_, l := f.heard(ctx, "slack", wait)
	if l.pid == dead {
		f.t.Fatalf("the killed replica (pid %d) still holds the chat", dead)
	}
	f.until(ctx, wait, "the new holder's answer to "+text, func() (bool, error) {
		for _, m := range sf.Messages(ch) {
			if at := slackTime(m.TS); m.User == sf.Options().BotUserID && strings.Contains(m.Text, want) && !at.Before(killed) {
				answered = at
				return true, nil
			}
		}
		return false, nil
	})
	return killed, l.since, answered
}

// slackTime reads a Slack ts ("1795219200.000100") as a time.
func slackTime(ts string) time.Time {
	sec, frac, _ := strings.Cut(ts, ".")
	s, _ := strconv.ParseInt(sec, 10, 64)
	us, _ := strconv.ParseInt((frac + "000000")[:6], 10, 64)
	return time.Unix(s, us*1000)
}
