package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"time"
)

// report reads the store and the receiver, prints the figures (and writes
// them to report.txt), and says whether the run failed.
func (r *run) report() bool {
	ctx := context.Background()
	var v verdict
	var factsErr error
	f, err := r.reader().readFacts(ctx)
	if err != nil {
		factsErr = fmt.Errorf("reading heed's database: %w", err)
	} else {
		v = judge(evidence{Keyed: keyedTarget, Plain: plainTarget, Posts: r.posts, Facts: f, Arrivals: r.recv.snapshot(), Pauses: r.pauses})
	}

	var b strings.Builder
	w := func(format string, args ...any) { fmt.Fprintf(&b, format+"\n", args...) }
	row := func(name string, got int, want string) {
		mark := ""
		if want != "" && fmt.Sprint(got) != want {
			mark = "   ✗"
		}
		if want != "" {
			want = "want " + want
		}
		w("  %-64s %6d   %s%s", name, got, want, mark)
	}
	w("")
	w("== chaos report")
	w("run        %s · %s · seed %d", r.began.UTC().Format("2006-01-02 15:04:05 MST"), time.Since(r.began).Round(time.Second), int64(r.o.seed))
	w("machine    %d CPUs · load average at the start %s, at the end %s", runtime.NumCPU(), r.loadStart, loadAverage())
	if r.o.replicas > 0 {
		w("replicas   %d `heed run` on one PostgreSQL database · %d SIGKILLs of a replica not holding the console chat, each started again at once (registered %s after the kill at most) · %d pauses (asked: %d kills, %d pauses) · %d heed starts",
			r.o.replicas, r.killsDone, r.maxRejoin.Round(time.Millisecond), len(r.pauses), r.o.kills, r.o.pauses, r.starts)
	} else {
		w("cycles     %d kills, %d SIGTERM, %d disk-full, %d pauses done (asked: %d, %d, %d, %d) · %d heed starts",
			r.killsDone, r.termsDone, r.diskDone, len(r.pauses), r.o.kills, r.o.terms, r.o.diskFull, r.o.pauses, r.starts)
	}
	w("posts      %d approved, to 2 targets each: %d deliveries", v.Posts, v.Deliveries)
	w("outcomes   published %d · unknown %d · failed %d · held by a pause %d (%d of them at the wire) · held otherwise %d · missed (the harness approved too late) %d",
		v.Published, v.Unknown, v.Failed, v.HeldPause, v.HeldWire, v.HeldOther, v.LateApproval)
	dropped := ""
	if r.o.drop > 0 {
		n := 0
		for _, a := range r.recv.snapshot() {
			if a.Dropped {
				n++
			}
		}
		dropped = fmt.Sprintf(" · %d taken and then cut off unanswered (-drop %g)", n, r.o.drop)
	}
	w("receiver   %d requests · %d resends of a key to %s (one post each, as the key promises)%s", v.Requests, v.Resends, keyedTarget, dropped)
	if r.o.replicas == 0 {
		w("kills      %d · %d cut a publish short: %s %d (sent again with the same key), %s %d (left unknown) · the new heed held the lease %s after the kill at most",
			r.killsDone, r.killsInFlight, keyedTarget, r.killLeft[keyedTarget], plainTarget, r.killLeft[plainTarget], r.maxRestart.Round(time.Millisecond))
		w("stops      %d graceful (SIGTERM), the longest %s · requests held in flight across SIGTERM and recorded published: %d of %d",
			r.stops, r.maxStop.Round(time.Millisecond), r.termsDone-len(r.heldNotDone), r.termsDone)
	} else {
		w("stops      %d graceful (SIGTERM) at the end, the longest %s", r.stops, r.maxStop.Round(time.Millisecond))
	}
	switch {
	case r.diskNote != "":
		w("disk full  %s", r.diskNote)
	case r.o.diskFull > 0 && r.o.replicas == 0:
		w("disk full  %d cycles on a %d MB tmpfs: heed logged its full disk in %d · starts on the full disk refused, as they must be: %d", r.diskDone, r.o.diskSize>>20, r.diskHits, r.refusedFull)
	}
	if len(r.pauses) > 0 {
		w("pauses     %d, each with a request held in flight · requests claimed before the pause committed that arrived while `heed pause` ran: %d, after it returned: %d · resends not judged (retries were waiting): %d",
			len(r.pauses), v.DuringPauseCLI, v.InFlightAtPause, v.UndecidedPause)
	}
	w("")
	row("duplicates (one occurrence × target posted twice)", v.Duplicates, "0")
	row("lost (approved, due, never delivered, not unknown/failed/held)", v.Lost, "0")
	row("still to be sent again with the same key (heed owes them)", v.Retrying, "")
	row("unknown left for a person", v.Unknown, "")
	row("  of which the receiver had in fact got", v.UnknownArrived, "")
	row("unknown on the target that honours the key", v.UnknownKeyed, "0")
	row("unknown from SIGTERM stops", len(r.stopUnknown)+len(r.heldNotDone), "0")
	row("claimed or sent after a pause committed", v.AfterPause, "0")
	row("held, yet delivered", v.HeldArrived, "0")
	if v.HeldResend > 0 {
		row("  a resend held by a pause, its key already delivered before it", v.HeldResend, "")
	}
	row("held, not by a pause", v.HeldOther, "0")
	row("sent without an approval before its claim", v.Unapproved, "0")
	row("requests with a bad signature or body", v.Bad, "0")
	row("refused starts (the holder was dead)", r.refused, "0")
	row("heed exited by itself", len(r.unexpectedExits), "0")
	row("`heed healthcheck` wrong (after a start, or after a kill)", len(r.health), "0")
	row("SIGTERM stops slower than a minute", r.slowStops, "0")
	row("SIGTERM stops with a non-zero exit", len(r.badExits), "0")

	var problems []string
	problems = append(problems, v.Problems...)
	problems = append(problems, r.stopUnknown...)
	problems = append(problems, r.heldNotDone...)
	problems = append(problems, r.unexpectedExits...)
	problems = append(problems, r.badExits...)
	problems = append(problems, r.health...)
	if r.refused > 0 {
		problems = append(problems, fmt.Sprintf("%d start(s) refused although the lease holder was dead", r.refused))
	}
	if r.slowStops > 0 {
		problems = append(problems, fmt.Sprintf("%d SIGTERM stop(s) took more than a minute", r.slowStops))
	}
	if r.timedOut {
		problems = append(problems, fmt.Sprintf("-timeout %s reached before every cycle ran", r.o.timeout))
	}
	problems = append(problems, r.replicaNote...)
	if r.harnessErr != nil {
		problems = append(problems, "the harness stopped: "+r.harnessErr.Error())
	}
	if r.drainErr != nil {
		problems = append(problems, "at the end, not everything due had settled: "+r.drainErr.Error())
	}
	if factsErr != nil {
		problems = append(problems, factsErr.Error())
	}
	if len(problems) > 0 {
		w("")
		w("problems:")
		for i, p := range problems {
			if i == 50 {
				w("  ... %d more in report.txt", len(problems)-50)
				break
			}
			w("  - %s", p)
		}
	}
	verdictLine := "chaos: PASS"
	if len(problems) > 0 {
		verdictLine = "chaos: FAIL"
	}
	w("")
	w("%s", verdictLine)
	fmt.Print(b.String())
	if r.chaosLog != nil {
		fmt.Fprint(r.chaosLog, b.String())
	}
	full := b.String()
	if len(problems) > 50 {
		full += "\nall problems:\n  - " + strings.Join(problems, "\n  - ") + "\n"
	}
	if r.dir != "" {
		os.WriteFile(filepath.Join(r.dir, "report.txt"), []byte(full), 0o600)
	}
	return len(problems) > 0
}

// loadAverage is the 1, 5 and 15 minute load average, where the system
// says it ("?" elsewhere).
func loadAverage() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "?"
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return "?"
	}
	return strings.Join(f[:3], " ")
}
