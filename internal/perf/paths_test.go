package perf

import (
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/heed-dev/heed/approvals"
	"github.com/heed-dev/heed/internal/heedtest"
	"github.com/heed-dev/heed/publish"
)

var openSizes = []int{50, 1000}

// withOpenCards is a stack whose review room shows n open cards, each a
// post due in two hours or more. rec2 is a second recording target.
func withOpenCards(b *testing.B, n int) (*heedtest.Stack, []int64) {
	b.Helper()
	rec2 := heedtest.NewRecorder()
	s := heedtest.New(b, heedtest.Options{CountSQL: true, Targets: []publish.Target{{Name: "rec2", Kind: "recorder", Publisher: rec2}}})
	ids := make([]int64, n)
	for i := range n {
		ids[i] = s.Add("open card "+strconv.Itoa(i), 2*time.Hour+time.Duration(i)*time.Minute).ID
	}
	s.Cycle()
	return s, ids
}

// work is what one operation cost, summed over b.N and reported per op.
type work struct {
	sql       heedtest.SQLCounts
	calls     heedtest.ChatCalls
	validates int
}

func (w *work) add(s *heedtest.Stack, op func()) {
	sql0, calls0, v0 := heedtest.SQLCount.Now(), s.Chat.Calls(), s.Rec.Validations()
	op()
	d, c := heedtest.SQLCount.Now().Sub(sql0), s.Chat.Calls()
	w.validates += s.Rec.Validations() - v0
	w.sql.Statements += d.Statements
	w.sql.Writes += d.Writes
	w.sql.Tx += d.Tx
	w.sql.WriteTx += d.WriteTx
	w.calls.Posts += c.Posts - calls0.Posts
	w.calls.Edits += c.Edits - calls0.Edits
	w.calls.Replies += c.Replies - calls0.Replies
}

func (w *work) report(b *testing.B) {
	n := float64(b.N)
	b.ReportMetric(float64(w.sql.Statements)/n, "sql/op")
	b.ReportMetric(float64(w.sql.Writes)/n, "writes/op")
	b.ReportMetric(float64(w.sql.Tx)/n, "tx/op")
	b.ReportMetric(float64(w.sql.WriteTx)/n, "writetx/op")
	b.ReportMetric(float64(w.calls.Edits)/n, "edits/op")
	b.ReportMetric(float64(w.calls.Posts+w.calls.Replies)/n, "messages/op")
	b.ReportMetric(float64(w.validates)/n, "validate/op")
}

// BenchmarkReaction is one ✅ on an open card, handled from the chat event
// to the edited card.
func BenchmarkReaction(b *testing.B) {
	for _, n := range openSizes {
		b.Run(fmt.Sprintf("open=%d", n), func(b *testing.B) {
			s, ids := withOpenCards(b, n)
			var w work
			i := 0
			for b.Loop() {
				id := ids[i%len(ids)]
				if i >= len(ids) {
					b.StopTimer()
					if err := s.Chat.Unreact("alice", id, "✅"); err != nil {
						b.Fatal(err)
					}
					b.StartTimer()
				}
				w.add(s, func() {
					if err := s.Chat.React("alice", id, "✅"); err != nil {
						b.Fatal(err)
					}
				})
				i++
			}
			b.StopTimer()
			if s.State(ids[0]) != approvals.StateApproved {
				b.Fatalf("#%d is %s after alice's ✅", ids[0], s.State(ids[0]))
			}
			w.report(b)
		})
	}
}

// BenchmarkPause is one `pause` typed in the review room. receipt-ns/op
// and receipt-sql/op are the time and the SQL statements from the typed
// line to its receipt; the rest (edits, statements) is the whole event,
// with the render pass that then shows the pause on every open card (in a
// running heed, the engine's loop does that after the receipt). The
// resume that follows is not counted.
func BenchmarkPause(b *testing.B) {
	for _, n := range append([]int{1}, openSizes...) {
		b.Run(fmt.Sprintf("open=%d", n), func(b *testing.B) {
			s, _ := withOpenCards(b, n)
			var w work
			var receiptNS, receiptSQL int64
			var start time.Time
			var sql0 int64
			s.Chat.OnReply = func(text string) {
				if strings.Contains(text, "Paused") && !start.IsZero() {
					receiptNS += int64(time.Since(start))
					receiptSQL += heedtest.SQLCount.Now().Statements - sql0
					start = time.Time{}
				}
			}
			for b.Loop() {
				w.add(s, func() {
					start, sql0 = time.Now(), heedtest.SQLCount.Now().Statements
					if err := s.Chat.Say("alice", "pause"); err != nil {
						b.Fatal(err)
					}
				})
				b.StopTimer()
				if !start.IsZero() {
					b.Fatalf("no receipt: %q", s.Chat.LastReply())
				}
				if err := s.Chat.Say("alice", "resume"); err != nil {
					b.Fatal(err)
				}
				b.StartTimer()
			}
			w.report(b)
			b.ReportMetric(float64(receiptNS)/float64(b.N), "receipt-ns/op")
			b.ReportMetric(float64(receiptSQL)/float64(b.N), "receipt-sql/op")
		})
	}
}

// BenchmarkDispatch is one dispatch cycle that publishes one approved
// occurrence to two targets, among n open cards.
func BenchmarkDispatch(b *testing.B) {
	for _, n := range openSizes {
		b.Run(fmt.Sprintf("open=%d", n), func(b *testing.B) {
			s, _ := withOpenCards(b, n)
			var w work
			for b.Loop() {
				b.StopTimer()
				p := s.Add("due now", time.Minute, "rec", "rec2")
				s.Cycle()
				if err := s.Chat.React("alice", p.ID, "✅"); err != nil {
					b.Fatal(err)
				}
				s.Clock.Advance(time.Minute)
				b.StartTimer()
				w.add(s, func() {
					if _, err := s.Dispatcher.RunOnce(s.Ctx, s.Clock.Now()); err != nil {
						b.Fatal(err)
					}
					if err := s.Engine.Cards().Sync(s.Ctx); err != nil {
						b.Fatal(err)
					}
				})
				b.StopTimer()
				if st := s.State(p.ID); st != approvals.StatePublished {
					b.Fatalf("#%d is %s", p.ID, st)
				}
				b.StartTimer()
			}
			w.report(b)
		})
	}
}
