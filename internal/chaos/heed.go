package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os/exec"
	"strings"
	"time"
)

// proc is one `heed run`.
type proc struct {
	n     int // the how-manieth start
	cmd   *exec.Cmd
	stdin io.WriteCloser // heed's console: the harness types approvals here
	done  chan struct{}  // closed once the process is reaped
	err   error          // what Wait said
}

func (p *proc) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

var (
	errLeaseRefused = errors.New("heed refused to start: another heed run holds the lease")
	errDiskFull     = errors.New("heed refused to start on the full disk")
)

// start starts heed and waits until it holds the dispatcher lease. A start
// refused for the lease is counted and tried again: a dead holder's lease
// must be taken over at once, so every such refusal is a defect.
func (r *run) start(ctx context.Context, why string) error {
	for attempt := 1; ; attempt++ {
		p, err := r.startOnce(ctx, why)
		if err == nil {
			r.p = p
			if out, err := r.cli(ctx, "healthcheck"); err != nil {
				r.health = append(r.health, fmt.Sprintf("`heed healthcheck` after heed run #%d took the lease: %v: %s", p.n, err, strings.TrimSpace(out)))
			}
			return nil
		}
		if !errors.Is(err, errLeaseRefused) {
			return err
		}
		r.refused++
		r.say("chaos: heed run #%d %v", r.starts, err)
		if attempt >= 40 {
			return err
		}
		if err := sleep(ctx, 500*time.Millisecond); err != nil {
			return err
		}
	}
}

// startOnce starts `heed run` with a pipe for its console and waits until
// the database names it as the lease holder ("HOST pid N"), or it exits.
func (r *run) startOnce(ctx context.Context, why string) (*proc, error) {
	r.starts++
	off := r.logSize()
	fmt.Fprintf(r.heedLog, "\n=== heed run #%d (%s) %s\n", r.starts, why, time.Now().Format(time.RFC3339Nano))
	cmd := exec.Command(r.bin, "run", "--config", r.cfg, "--as", approver)
	cmd.Env = r.env
	cmd.Stdout, cmd.Stderr = r.heedLog, r.heedLog
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	dieWithParent(cmd)
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	p := &proc{n: r.starts, cmd: cmd, stdin: stdin, done: make(chan struct{})}
	go func() { p.err = cmd.Wait(); close(p.done) }()
	want := fmt.Sprintf("%s pid %d", r.host, cmd.Process.Pid)
	deadline := time.Now().Add(time.Minute)
	for {
		select {
		case <-p.done:
			text := r.logSince(off)
			switch {
			case strings.Contains(text, "another heed run"):
				return nil, fmt.Errorf("%w: %s", errLeaseRefused, lastLine(text))
			case strings.Contains(text, "is full") || strings.Contains(text, "cannot be written"):
				return nil, fmt.Errorf("%w: %s", errDiskFull, lastLine(text))
			}
			return nil, fmt.Errorf("heed run #%d exited at start (%v):\n%s", p.n, p.err, tail(text, 20))
		default:
		}
		if h, err := r.reader().leaseHolder(ctx); err == nil && h == want {
			return p, nil
		}
		if time.Now().After(deadline) {
			cmd.Process.Kill()
			<-p.done
			return nil, fmt.Errorf("heed run #%d did not take the lease within a minute", p.n)
		}
		if err := sleep(ctx, 10*time.Millisecond); err != nil {
			cmd.Process.Kill()
			<-p.done
			return nil, err
		}
	}
}

func lastLine(s string) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	return lines[len(lines)-1]
}

func tail(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
