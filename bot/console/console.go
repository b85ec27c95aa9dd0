// Package console is the chat adapter for trying heed in a terminal, with
// no chat account. Each line on standard input is a chat message from the
// current user; cards, receipts and replies print to standard output with
// their card number.
//
//	/as NAME      switch the current user
//	+N EMOJI      react to card N
//	-N EMOJI      take that reaction back
//	heed ARGS...  run a heed command (post add, post list, ...) in-process
//	anything else a chat message: pause, resume, status, queue, ...
package console

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/heed-dev/heed/bot"
)

// Room is the console's single review room id.
const Room = "console"

// Adapter is the console chat.
type Adapter struct {
	In  io.Reader
	Out io.Writer
	// User is who types at first (default "you").
	User string
	// Shell runs `heed ARGS...` lines as user, when set.
	Shell func(ctx context.Context, user string, args []string, out io.Writer) error
	Now   func() time.Time

	mu     sync.Mutex
	events int
	eof    bool // standard input ended
}

var (
	_ bot.Adapter = (*Adapter)(nil)
	_ bot.Hearing = (*Adapter)(nil)
)

// Name is "console".
func (a *Adapter) Name() string { return "console" }

func (a *Adapter) now() time.Time {
	if a.Now == nil {
		return time.Now()
	}
	return a.Now()
}

// Alive is always now: the terminal is in the same process, so a pause
// typed there is heard while it can be typed (see Deaf).
func (a *Adapter) Alive() time.Time { return a.now() }

// EOFMessage is printed when standard input ends, and is why the console
// is deaf from then on.
const EOFMessage = "standard input ended, so nobody can type `pause` here: heed publishes nothing until it is restarted with a terminal. To stop publishing, run `heed pause` from another terminal"

// Deaf is EOFMessage once standard input has ended: nobody can type
// `pause` any more, so nothing may go out.
func (a *Adapter) Deaf() string {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.eof {
		return EOFMessage
	}
	return ""
}

func (a *Adapter) printf(format string, args ...any) {
	a.mu.Lock()
	defer a.mu.Unlock()
	fmt.Fprintf(a.Out, format, args...)
}

// PostCard prints a new card. Its ref is the card number.
func (a *Adapter) PostCard(ctx context.Context, room string, c bot.Card) (bot.MessageRef, error) {
	a.printf("\n┌─ card #%d\n%s\n└─\n", c.Number, indent(c.PlainText()))
	return bot.MessageRef(strconv.FormatInt(c.Number, 10)), nil
}

// UpdateCard prints the card again, marked as updated.
func (a *Adapter) UpdateCard(ctx context.Context, room string, ref bot.MessageRef, c bot.Card) error {
	a.printf("\n┌─ card #%s updated\n%s\n└─\n", ref, indent(c.PlainText()))
	return nil
}

// Reply prints a reply, with the card number when it is in a card's thread.
func (a *Adapter) Reply(ctx context.Context, room string, thread bot.MessageRef, text string) error {
	if thread != "" {
		a.printf("#%s ↳ %s\n", thread, text)
		return nil
	}
	a.printf("heed: %s\n", text)
	return nil
}

func indent(s string) string { return "│ " + strings.ReplaceAll(s, "\n", "\n│ ") }

// Run reads lines until ctx is done. At the end of input it keeps heed
// running, deaf (see Deaf): cards and the CLI still work, and nothing is
// published until a terminal can pause it again.
func (a *Adapter) Run(ctx context.Context, h bot.Handler) error {
	if a.User == "" {
		a.User = "you"
	}
	lines := make(chan string)
	go func() {
		defer close(lines)
		sc := bufio.NewScanner(a.In)
		sc.Buffer(make([]byte, 64*1024), 1<<20)
		for sc.Scan() {
			select {
			case lines <- sc.Text():
			case <-ctx.Done():
				return
			}
		}
	}()
	for {
		select {
		case <-ctx.Done():
			return nil
		case line, ok := <-lines:
			if !ok {
				a.mu.Lock()
				a.eof = true
				a.mu.Unlock()
				a.printf("heed: %s.\n", EOFMessage)
				<-ctx.Done()
				return nil
			}
			if err := a.Line(ctx, h, line); err != nil {
				a.printf("heed: %v\n", err)
			}
		}
	}
}

// Line handles one typed line.
func (a *Adapter) Line(ctx context.Context, h bot.Handler, line string) error {
	line = strings.TrimSpace(line)
	if line == "" || strings.HasPrefix(line, "#") {
		return nil
	}
	a.mu.Lock()
	a.events++
	id := fmt.Sprintf("console-%d-%d", a.now().UnixNano(), a.events)
	user := a.User
	a.mu.Unlock()
	ev := bot.Event{ID: id, Adapter: a.Name(), Room: Room, User: user, UserName: "@" + user, At: a.now()}
	switch {
	case strings.HasPrefix(line, "/as"):
		name := strings.TrimSpace(strings.TrimPrefix(line, "/as"))
		if name == "" || strings.ContainsAny(name, " \t") {
			return fmt.Errorf("usage: /as NAME")
		}
		a.mu.Lock()
		a.User = strings.TrimPrefix(name, "@")
		a.mu.Unlock()
		a.printf("heed: you are now @%s\n", strings.TrimPrefix(name, "@"))
		return nil
	case line[0] == '+' || line[0] == '-':
		fields := strings.Fields(line[1:])
		if len(fields) != 2 {
			return fmt.Errorf("usage: +N EMOJI to react to card N, -N EMOJI to take it back (e.g. +3 ✅)")
		}
		if _, err := strconv.ParseInt(strings.TrimPrefix(fields[0], "#"), 10, 64); err != nil {
			return fmt.Errorf("%q is not a card number: use +N EMOJI, e.g. +3 ✅", fields[0])
		}
		ev.Kind, ev.Card, ev.Emoji = bot.Reaction, bot.MessageRef(strings.TrimPrefix(fields[0], "#")), fields[1]
		if line[0] == '-' {
			ev.Kind = bot.Unreaction
		}
	case strings.HasPrefix(line, "heed "):
		if a.Shell == nil {
			return fmt.Errorf("heed commands cannot run from here: use another terminal")
		}
		args, err := SplitArgs(line)
		if err != nil {
			return err
		}
		return a.Shell(ctx, user, args[1:], &lockedWriter{a: a})
	default:
		ev.Kind, ev.Text = bot.Message, line
	}
	return h.HandleEvent(ctx, ev)
}

// lockedWriter serialises shell output with card output.
type lockedWriter struct{ a *Adapter }

func (w *lockedWriter) Write(p []byte) (int, error) {
	w.a.mu.Lock()
	defer w.a.mu.Unlock()
	return w.a.Out.Write(p)
}

// SplitArgs splits a command line as a shell would for simple cases: words
// separated by spaces, "double" or 'single' quotes keep spaces, and a
// backslash escapes the next character outside single quotes.
func SplitArgs(line string) ([]string, error) {
	var args []string
	var cur strings.Builder
	inWord, quote, escaped := false, rune(0), false
	for _, r := range line {
		switch {
		case escaped:
			cur.WriteRune(r)
			escaped = false
		case r == '\\' && quote != '\'':
			escaped, inWord = true, true
		case quote != 0 && r == quote:
			quote = 0
		case quote != 0:
			cur.WriteRune(r)
		case r == '"' || r == '\'':
			quote, inWord = r, true
		case r == ' ' || r == '\t':
			if inWord {
				args = append(args, cur.String())
				cur.Reset()
				inWord = false
			}
		default:
			cur.WriteRune(r)
			inWord = true
		}
	}
	if quote != 0 {
		return nil, fmt.Errorf("unclosed %c quote", quote)
	}
	if inWord {
		args = append(args, cur.String())
	}
	return args, nil
}
