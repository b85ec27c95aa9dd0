package app_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/heed-dev/heed/app"
	"github.com/heed-dev/heed/approvals"
	"github.com/heed-dev/heed/bot"
	"github.com/heed-dev/heed/internal/heedtest"
	"github.com/heed-dev/heed/internal/pgtest"
)

// cluster is n heed replicas on one PostgreSQL database, sharing one
// chat and one clock, driven cycle by cycle.
type cluster struct {
	t     *testing.T
	clock *heedtest.Clock
	chat  *heedtest.MemChat
	r     []*heedtest.Stack
	down  map[int]bool // replicas that no longer run (killed)
}

func newCluster(t *testing.T, n int) *cluster {
	url := pgtest.URL(t)
	c := &cluster{t: t, clock: heedtest.NewClock(time.Date(2030, 1, 7, 9, 0, 0, 0, time.UTC)), down: map[int]bool{}}
	c.chat = heedtest.NewMemChat(c.clock.Now)
	for i := range n {
		c.r = append(c.r, heedtest.New(t, heedtest.Options{DBPath: url, Clock: c.clock, Chat: c.chat, Replica: fmt.Sprintf("r%d", i+1)}))
	}
	return c
}

// hold runs one lease cycle on every running replica; the one that takes
// the chat hears it. It returns which replica took it (-1: none).
func (c *cluster) hold() int {
	c.t.Helper()
	took := -1
	for i, s := range c.r {
		if c.down[i] {
			continue
		}
		names, err := s.Engine.HoldCycle(s.Ctx)
		if err != nil {
			c.t.Fatalf("r%d lease cycle: %v", i+1, err)
		}
		if slices.Contains(names, "mem") {
			s.Hear()
			took = i
		}
	}
	return took
}

// cycle runs an engine and dispatch cycle on every running replica.
func (c *cluster) cycle() {
	c.t.Helper()
	for i, s := range c.r {
		if !c.down[i] {
			s.Cycle()
		}
	}
}

// published is every text any replica published.
func (c *cluster) published() []string {
	var all []string
	for _, s := range c.r {
		all = append(all, s.Rec.Texts()...)
	}
	return all
}

func (c *cluster) holders() []int {
	var out []int
	for i, s := range c.r {
		if !c.down[i] && s.Engine.Holds("mem") {
			out = append(out, i)
		}
	}
	return out
}

// TestReplicasOneHolderTakeoverHoldsTheGap: of three replicas on one
// PostgreSQL, exactly one holds the chat, and only it posts and edits
// cards; the others dispatch. When the holder stops renewing, an
// approved post that comes due holds as deaf on every replica until
// another takes the chat over, within twice the lease; then it goes out
// once, and its card is never posted twice.
func TestReplicasOneHolderTakeoverHoldsTheGap(t *testing.T) {
	c := newCluster(t, 3)
	if took := c.hold(); took != 0 {
		t.Fatalf("the first lease cycle: r%d took the chat, want r1", took+1)
	}
	if h := c.holders(); !slices.Equal(h, []int{0}) {
		t.Fatalf("holders %v, want only r1", h)
	}
	step := c.r[0].Engine.RenewEvery()
	p := c.r[1].Add("hello from a replica", 30*time.Second)
	// The replicas that do not hold the chat render nothing.
	c.r[1].Cycle()
	c.r[2].Cycle()
	if calls := c.chat.Calls(); calls != (heedtest.ChatCalls{}) {
		t.Fatalf("replicas that do not hold the chat called it: %+v", calls)
	}
	c.r[0].Cycle()
	if calls := c.chat.Calls(); calls.Posts != 1 {
		t.Fatalf("card posts after the holder's cycle: %+v, want 1", calls)
	}
	if err := c.chat.React("alice", p.ID, "✅"); err != nil {
		t.Fatal(err)
	}
	c.r[2].WantState(p.ID, approvals.StateApproved)

	// The holder dies 5 s before the post is due.
	for c.clock.Now().Before(p.Schedule.At.Add(-5 * time.Second)) {
		c.clock.Advance(step)
		c.hold()
		c.cycle()
	}
	died := c.clock.Now()
	c.down[0] = true
	took := -1
	gapChecked := false
	for took < 0 {
		c.clock.Advance(step)
		if c.clock.Now().Sub(died) > 2*bot.DefaultLease {
			t.Fatalf("no replica took the chat within twice the lease (%s) of its holder's death", 2*bot.DefaultLease)
		}
		took = c.hold()
		if took >= 0 {
			break
		}
		c.cycle()
		if !c.clock.Now().Before(p.Schedule.At) {
			// Due, and nobody holds the chat: nothing goes out.
			if got := c.published(); len(got) != 0 {
				t.Fatalf("published while no replica heard the chat: %q", got)
			}
			if why := c.r[1].Engine.Deaf(c.clock.Now()); why == "" {
				t.Fatal("a replica that does not hold the chat took it for heard while its holder was dead")
			}
			gapChecked = true
		}
	}
	if !gapChecked {
		t.Fatal("the post did not come due during the takeover; the test checked nothing")
	}
	t.Logf("r%d took the chat %s after its holder's last renewal (lease %s)", took+1, c.clock.Now().Sub(died), bot.DefaultLease)
	if took == 0 {
		t.Fatal("the dead replica took the chat")
	}
	// The post that came due while nobody heard the chat is held, as
	// after any deaf spell; the takeover posted no second card.
	for range 3 {
		c.clock.Advance(step)
		c.hold()
		c.cycle()
	}
	if got := c.published(); len(got) != 0 {
		t.Fatalf("published after the takeover without a fresh decision: %q", got)
	}
	c.r[took].WantState(p.ID, approvals.StateHeld)
	if calls := c.chat.Calls(); calls.Posts != 1 {
		t.Fatalf("card posts across the takeover: %d, want 1", calls.Posts)
	}
	// A fresh approval, heard by the new holder, publishes it once.
	if err := c.chat.React("bob", p.ID, "✅"); err != nil {
		t.Fatal(err)
	}
	for range 2 {
		c.clock.Advance(step)
		c.hold()
		c.cycle()
	}
	if got := c.published(); !slices.Equal(got, []string{"hello from a replica"}) {
		t.Fatalf("published after a fresh approval: %q, want it once (state %s)", got, c.r[took].View(p.ID).State)
	}
	if h := c.holders(); !slices.Equal(h, []int{took}) {
		t.Fatalf("holders after the takeover %v, want only r%d", h, took+1)
	}

	// The old holder comes back (it was suspended): it has lost the chat,
	// and serves nothing.
	c.down[0] = false
	before := c.chat.Calls()
	if c.r[0].Engine.Holds("mem") {
		t.Fatal("the old holder still serves the chat after its lease lapsed")
	}
	c.r[0].Cycle()
	if _, err := c.r[0].Engine.HoldCycle(c.r[0].Ctx); !errors.Is(err, bot.ErrLostChat) {
		t.Fatalf("the old holder's lease cycle: %v, want ErrLostChat", err)
	}
	if after := c.chat.Calls(); after != before {
		t.Fatalf("the old holder called the chat: %+v → %+v", before, after)
	}
}

// TestReplicasPauseDuringTakeoverIsHonoured: a pause recorded from the
// CLI while no replica holds the chat is honoured by the replica that
// takes the chat over: the approved post that comes due after the
// takeover is held by the pause, and nothing is published.
func TestReplicasPauseDuringTakeoverIsHonoured(t *testing.T) {
	c := newCluster(t, 2)
	c.hold()
	step := c.r[0].Engine.RenewEvery()
	p := c.r[0].Add("not during a pause", time.Minute)
	c.cycle()
	if err := c.chat.React("alice", p.ID, "✅"); err != nil {
		t.Fatal(err)
	}
	c.r[1].WantState(p.ID, approvals.StateApproved)
	c.clock.Advance(step)
	c.hold()
	c.down[0] = true // the holder dies
	c.clock.Advance(3 * step)
	if c.r[1].Engine.Deaf(c.clock.Now()) == "" {
		t.Fatal("the holder missed its renewals, and the other replica takes the chat for heard")
	}
	if c.hold() >= 0 {
		t.Fatal("the chat was taken before its holder's lease lapsed")
	}
	if _, err := c.r[1].Service.Pauses.PauseAll(c.r[1].Ctx, "carol", "", "takeover test", "cli"); err != nil {
		t.Fatal(err)
	}
	for c.hold() != 1 {
		c.clock.Advance(step)
		c.cycle()
	}
	for c.clock.Now().Before(p.Schedule.At.Add(3 * step)) {
		c.clock.Advance(step)
		c.hold()
		c.cycle()
	}
	if got := c.published(); len(got) != 0 {
		t.Fatalf("published after a pause during the takeover: %q", got)
	}
	v := c.r[1].View(p.ID)
	if v.State != approvals.StateHeld || !strings.Contains(v.Note, "carol") {
		t.Fatalf("after the takeover: state %s (%s); want held by carol's pause", v.State, v.Note)
	}
	if calls := c.chat.Calls(); calls.Posts != 1 {
		t.Fatalf("card posts across the takeover: %d, want 1", calls.Posts)
	}
}

// TestChatLeaseIsTakenOnlyOnceLapsed: a live lease is neither taken nor
// renewed by another replica; once lapsed, the first replica to try takes
// it and the old holder can no longer renew it.
func TestChatLeaseIsTakenOnlyOnceLapsed(t *testing.T) {
	c := newCluster(t, 1)
	st, ctx := c.r[0].Store, c.r[0].Ctx
	now := c.clock.Now()
	const ttl = 7 * time.Second
	if ok, err := st.TakeChat(ctx, "slack", "a", now, ttl); err != nil || !ok {
		t.Fatalf("a takes a free chat: %v %v", ok, err)
	}
	if ok, err := st.TakeChat(ctx, "slack", "b", now.Add(ttl-time.Millisecond), ttl); err != nil || ok {
		t.Fatalf("b takes a's live lease: %v %v", ok, err)
	}
	if ok, err := st.RenewChat(ctx, "slack", "b", now, ttl, now, ""); err != nil || ok {
		t.Fatalf("b renews a's lease: %v %v", ok, err)
	}
	if ok, err := st.RenewChat(ctx, "slack", "a", now.Add(time.Second), ttl, now, ""); err != nil || !ok {
		t.Fatalf("a renews its lease: %v %v", ok, err)
	}
	lapsed := now.Add(time.Second + ttl)
	if ok, err := st.RenewChat(ctx, "slack", "a", lapsed, ttl, now, ""); err != nil || ok {
		t.Fatalf("a renews a lapsed lease: %v %v", ok, err)
	}
	if ok, err := st.TakeChat(ctx, "slack", "b", lapsed, ttl); err != nil || !ok {
		t.Fatalf("b takes a lapsed lease: %v %v", ok, err)
	}
	if ok, err := st.TakeChat(ctx, "slack", "c", lapsed, ttl); err != nil || ok {
		t.Fatalf("c takes b's fresh lease: %v %v", ok, err)
	}
	h, ok, err := st.ChatHolder(ctx, "slack")
	if err != nil || !ok || h.Replica != "b" || !h.Expires.Equal(lapsed.Add(ttl)) {
		t.Fatalf("the lease record: %+v %v %v", h, ok, err)
	}
	if err := st.ReleaseChat(ctx, "slack", "b"); err != nil {
		t.Fatal(err)
	}
	if ok, err := st.TakeChat(ctx, "slack", "c", lapsed, ttl); err != nil || !ok {
		t.Fatalf("c takes a released lease: %v %v", ok, err)
	}
}

// failingRenewals is a replica's lease record whose renewals fail, as
// when the database cannot be reached from it.
type failingRenewals struct{ bot.ChatLeases }

func (failingRenewals) RenewChat(context.Context, string, string, time.Time, time.Duration, time.Time, string) (bool, error) {
	return false, errors.New("connection refused")
}

// TestHolderThatCannotRenewStopsBeforeItsLeaseLapses: a holder whose
// renewals fail stops serving the chat, and its lease cycle reports the
// loss, before another replica may take the chat: never two at once.
func TestHolderThatCannotRenewStopsBeforeItsLeaseLapses(t *testing.T) {
	c := newCluster(t, 2)
	if c.hold() != 0 {
		t.Fatal("r1 did not take the chat")
	}
	step := c.r[0].Engine.RenewEvery()
	c.r[0].Engine.Leases = failingRenewals{c.r[0].Engine.Leases}
	lost := false
	for i := 0; ; i++ {
		if i > 10 {
			t.Fatal("no replica took the chat")
		}
		c.clock.Advance(step)
		if !lost {
			_, err := c.r[0].Engine.HoldCycle(c.r[0].Ctx)
			switch {
			case errors.Is(err, bot.ErrLostChat):
				lost = true
			case err != nil:
				t.Fatal(err)
			}
		}
		names, err := c.r[1].Engine.HoldCycle(c.r[1].Ctx)
		if err != nil {
			t.Fatal(err)
		}
		if c.r[0].Engine.Holds("mem") && c.r[1].Engine.Holds("mem") {
			t.Fatalf("both replicas serve the chat at %s", c.clock.Now())
		}
		if len(names) > 0 {
			if !lost {
				t.Fatal("r2 took the chat before r1 knew it had lost it")
			}
			return
		}
	}
}

// TestChatLeaseOutOfRangeIsRefused: a chat_lease too short to renew over
// a network, or too long for a takeover anyone would wait for, is refused
// with what to give instead; a good one is read.
func TestChatLeaseOutOfRangeIsRefused(t *testing.T) {
	for _, bad := range []string{"1s", "10m"} {
		_, err := app.LoadConfig(writeConfig(t, "chat_lease: "+bad+"\n"))
		if err == nil || !strings.Contains(err.Error(), "chat_lease") || !strings.Contains(err.Error(), "from 2s to 5m") {
			t.Errorf("chat_lease: %s: %v", bad, err)
		}
	}
	c, err := app.LoadConfig(writeConfig(t, "chat_lease: 10s\n"))
	if err != nil || time.Duration(c.ChatLease) != 10*time.Second {
		t.Fatalf("chat_lease: 10s: %v %v", c, err)
	}
}

// TestReplicaSettlesOnlyWhatStoppedReplicasLeft: a delivery under way on
// a live replica is left to it; one left by a replica that no longer
// heartbeats becomes unknown, for a person to resolve.
func TestReplicaSettlesOnlyWhatStoppedReplicasLeft(t *testing.T) {
	c := newCluster(t, 2)
	c.hold()
	ctx, now := c.r[0].Ctx, c.clock.Now()
	for i, s := range c.r {
		if err := s.Store.RegisterReplica(ctx, approvals.Replica{ID: fmt.Sprintf("r%d", i+1), Host: "h", PID: i + 1, Started: now}); err != nil {
			t.Fatal(err)
		}
	}
	p := c.r[0].Add("under way", time.Minute)
	c.cycle()
	if err := c.chat.React("alice", p.ID, "✅"); err != nil {
		t.Fatal(err)
	}
	c.clock.Advance(time.Minute)
	// r1 claims it and is about to send (its dispatcher's Runner).
	res, err := c.r[0].Service.Deliveries.Settle(ctx, p.ID, c.clock.Now(), approvals.SettleOptions{Runner: "r1"})
	if err != nil || res.Outcome != approvals.OutcomeClaimed {
		t.Fatalf("r1's claim: %+v %v", res, err)
	}
	dead := 30 * time.Second
	if err := c.r[0].Store.BeatReplica(ctx, "r1", c.clock.Now(), []string{"mem"}); err != nil {
		t.Fatal(err)
	}
	if n, err := c.r[1].Service.Deliveries.RecoverStopped(ctx, nil, c.clock.Now().Add(-dead)); err != nil || n != 0 {
		t.Fatalf("r2 settled %d deliveries of a live replica (%v)", n, err)
	}
	if err := c.r[1].Store.BeatReplica(ctx, "r2", c.clock.Now().Add(dead), nil); err != nil {
		t.Fatal(err)
	}
	c.clock.Advance(dead + time.Second) // r1 heartbeats no more
	if n, err := c.r[1].Service.Deliveries.RecoverStopped(ctx, nil, c.clock.Now().Add(-dead)); err != nil || n != 1 {
		t.Fatalf("r2 settled %d deliveries of a stopped replica, want 1 (%v)", n, err)
	}
	c.r[1].WantState(p.ID, approvals.StateUnknown)
}

// TestReplicasCountAChatEventOnce: the same chat event (one event id)
// reaching two replicas, as a Slack Events API retry may after a
// takeover, is acted on once: the ids of handled events are in the
// database.
func TestReplicasCountAChatEventOnce(t *testing.T) {
	c := newCluster(t, 2)
	c.hold()
	ev := bot.Event{ID: "Ev0PAUSE1", Kind: bot.Message, Adapter: "mem", Room: "review", User: "bob", UserName: "@bob",
		Text: "pause breaking news", At: c.clock.Now()}
	for _, s := range c.r {
		if err := s.Engine.HandleEvent(s.Ctx, ev); err != nil {
			t.Fatal(err)
		}
	}
	pauses, err := c.r[1].Service.Pauses.ActivePauses(c.r[1].Ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(pauses) != 1 {
		t.Fatalf("%d pauses from one event delivered to two replicas, want 1", len(pauses))
	}
	if n := c.chat.RepliesContaining("Paused all publishing"); n != 1 {
		t.Fatalf("%d pause receipts, want 1", n)
	}
}
