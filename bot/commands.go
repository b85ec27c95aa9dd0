package bot

import (
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Command is a parsed chat message addressed to heed.
type Command struct {
	Name   string // pause, resume, status, queue, cancel, delay, resolve, allow, retract, sensitive, schedule, help
	Target string // pause/resume: one target, or "" for all
	Reason string // pause: the rest of the message; sensitive: the day's name
	N      int64  // cancel/delay/resolve/allow/retract: the card number; retract confirm|cancel: the offer, 0 for the newest
	Delay  time.Duration
	// Window: `pause retract 2h` also offers to retract what was published
	// in this window.
	Window time.Duration
	Arg    string // resolve: published|failed; allow: off-hours; retract: confirm|cancel; sensitive: the date
	URL    string // resolve: the post's URL, if given
	All    bool   // resolve all: every occurrence whose outcome is unknown
	// Before: `resolve all published before 2026-12-01` settles only the
	// occurrences due before this time, as typed (read by
	// approvals.ParseBefore in the team's zone).
	Before string
	// When, Targets and Text are what `schedule WHEN to T1,T2 TEXT` says:
	// the time as typed (read by approvals.ParseTime in the room's zone),
	// the targets, and the text, as typed, or "" when the command is a
	// reply that takes the text of the message it answers.
	When    string
	Targets []string
	Text    string
}

// ParseError is a message that looks like a command but is malformed.
type ParseError struct{ Msg string }

func (e *ParseError) Error() string { return e.Msg }

// ParseCommand reads a chat message. It reports false for ordinary chat
// (anything whose first word is not a command). A message whose first word
// is "pause", in any case, is always a pause: the brake must never depend on
// getting the syntax right, so bold, italic and code marks around the
// message or its first word ("*pause*", "`pause`", "_pause_") are read
// through. isTarget tells target names from reason words.
func ParseCommand(text string, isTarget func(string) bool) (Command, bool, error) {
	text = unwrapMarks(text)
	fields := strings.Fields(text)
	if len(fields) == 0 {
		return Command{}, false, nil
	}
	name := strings.ToLower(strings.Trim(fields[0], ":,.!"+marks))
	args := fields[1:]
	if len(args) > 0 && (name == "pause" || name == "resume") {
		if a := strings.Trim(args[0], marks); a != "" && isTarget != nil && isTarget(a) {
			args[0] = a // "pause *mastodon* instance down"
		}
	}
	rest := func(from int) string {
		if from >= len(args) {
			return ""
		}
		return strings.Join(args[from:], " ")
	}
	switch name {
	case "pause":
		c := Command{Name: "pause"}
		if len(args) > 1 && strings.EqualFold(args[0], "retract") {
			if d, err := time.ParseDuration(args[1]); err == nil && d > 0 {
				c.Window, c.Reason = d, rest(2)
				return c, true, nil
			}
		}
		if len(args) > 0 && isTarget != nil && isTarget(args[0]) {
			c.Target, c.Reason = args[0], rest(1)
		} else {
			c.Reason = rest(0)
		}
		return c, true, nil
	case "resume":
		c := Command{Name: "resume"}
		if len(args) > 0 {
			if isTarget == nil || !isTarget(args[0]) {
				return c, true, &ParseError{fmt.Sprintf("resume: %q is not a target; type `resume` to lift every pause, or `resume TARGET`", args[0])}
			}
			c.Target = args[0]
		}
		return c, true, nil
	case "status", "queue", "help":
		return Command{Name: name}, true, nil
	case "schedule":
		return parseSchedule(text)
	case "sensitive":
		c := Command{Name: name}
		if len(args) == 0 {
			return c, true, nil
		}
		if strings.Trim(args[0], "0123456789-") != "" {
			return Command{}, false, nil // "sensitive topic, careful": ordinary chat
		}
		c.Arg = args[0]
		// The name is the rest of the message as typed, without its quotes.
		_, after, _ := strings.Cut(strings.TrimSpace(text), args[0])
		c.Reason = strings.Trim(strings.TrimSpace(after), "\"'“”„‘’«»")
		if c.Reason == "" {
			return c, true, &ParseError{usage(name)}
		}
		return c, true, nil
	case "retract":
		c := Command{Name: name}
		if len(args) > 0 {
			if a := strings.ToLower(args[0]); a == "confirm" || a == "cancel" {
				c.Arg = a
				if len(args) > 1 {
					n, err := strconv.ParseInt(strings.TrimPrefix(args[1], "#"), 10, 64)
					if err != nil || n <= 0 {
						return c, true, &ParseError{fmt.Sprintf("retract %s: %q is not an offer number. %s", a, args[1], usage(name))}
					}
					c.N = n
				}
				return c, true, nil
			}
		}
		fallthrough
	case "cancel", "delay", "resolve", "allow":
		c := Command{Name: name}
		if name == "allow" && (len(args) == 0 || strings.Trim(args[0], "#0123456789") != "") {
			return Command{}, false, nil // "allow me to explain": ordinary chat
		}
		if len(args) == 0 {
			return c, true, &ParseError{usage(name)}
		}
		if name == "resolve" && strings.EqualFold(args[0], "all") {
			if len(args) < 2 || (args[1] != "published" && args[1] != "failed") {
				return c, true, &ParseError{usage(name)}
			}
			c.All, c.Arg = true, args[1]
			if len(args) > 2 {
				if !strings.EqualFold(args[2], "before") || len(args) == 3 {
					return c, true, &ParseError{fmt.Sprintf("resolve all %s: only `before TIME` may follow, as in `resolve all %s before 2026-12-01`. %s", c.Arg, c.Arg, usage(name))}
				}
				c.Before = strings.Join(args[3:], " ")
			}
			return c, true, nil
		}
		n, err := strconv.ParseInt(strings.TrimPrefix(args[0], "#"), 10, 64)
		if err != nil || n <= 0 {
			return c, true, &ParseError{fmt.Sprintf("%s: %q is not a card number. %s", name, args[0], usage(name))}
		}
		c.N = n
		switch name {
		case "delay":
			if len(args) < 2 {
				return c, true, &ParseError{usage(name)}
			}
			d, err := time.ParseDuration(args[1])
			if err != nil || d <= 0 {
				return c, true, &ParseError{fmt.Sprintf("delay: %q is not a duration. %s", args[1], usage(name))}
			}
			c.Delay = d
		case "allow":
			if len(args) < 2 || !slices.Contains([]string{"off-hours", "offhours", "off_hours"}, strings.ToLower(args[1])) {
				return c, true, &ParseError{usage(name)}
			}
			c.Arg = "off-hours"
		case "resolve":
			if len(args) < 2 || (args[1] != "published" && args[1] != "failed") {
				return c, true, &ParseError{usage(name)}
			}
			c.Arg = args[1]
			if len(args) > 2 {
				c.URL = args[2]
			}
		}
		return c, true, nil
	}
	return Command{}, false, nil
}

var word = regexp.MustCompile(`\S+`)

// parseSchedule reads `schedule WHEN to T1,T2 TEXT`. WHEN is every word
// before the first "to"; the targets are the word after it (a list split
// by commas, spaces allowed after a comma); TEXT is the rest of the
// message as typed, line breaks and all. A message that says "schedule"
// with no "to" after it is ordinary chat, unless it says nothing else.
func parseSchedule(text string) (Command, bool, error) {
	c := Command{Name: "schedule"}
	words := word.FindAllStringIndex(text, -1)
	at := func(i int) string { return text[words[i][0]:words[i][1]] }
	to := slices.IndexFunc(words, func(w []int) bool { return strings.EqualFold(text[w[0]:w[1]], "to") })
	switch {
	case len(words) == 1:
		return c, true, &ParseError{usage(c.Name)}
	case to < 0:
		return Command{}, false, nil // "schedule looks tight this week": ordinary chat
	case to == 1:
		return c, true, &ParseError{"schedule: no time before `to`. " + usage(c.Name)}
	case to == len(words)-1:
		return c, true, &ParseError{"schedule: no target after `to`. " + usage(c.Name)}
	}
	c.When = text[words[1][0]:words[to-1][1]]
	last := to + 1
	list := at(last)
	for strings.HasSuffix(list, ",") && last+1 < len(words) {
		last++
		list += at(last)
	}
	for t := range strings.SplitSeq(list, ",") {
		if t = strings.Trim(t, marks); t != "" {
			c.Targets = append(c.Targets, t)
		}
	}
	if len(c.Targets) == 0 {
		return c, true, &ParseError{"schedule: no target after `to`. " + usage(c.Name)}
	}
	c.Text = strings.TrimSpace(text[words[last][1]:])
	return c, true, nil
}

// marks are the chat formatting marks read through around a command:
// bold, italic and code (Slack, Markdown).
const marks = "*_`"

// unwrapMarks removes formatting marks that enclose the whole message, as
// in "*pause breaking news*" or "```pause```".
func unwrapMarks(text string) string {
	text = strings.TrimSpace(text)
	for len(text) >= 2 {
		m := text[0]
		if !strings.ContainsRune(marks, rune(m)) || text[len(text)-1] != m {
			return text
		}
		text = strings.TrimSpace(text[1 : len(text)-1])
	}
	return text
}

func usage(name string) string {
	switch name {
	case "cancel":
		return "Usage: `cancel N` drops card #N."
	case "delay":
		return "Usage: `delay N 2h` moves card #N by a duration such as 30m or 2h; it then needs a fresh approval."
	case "resolve":
		return "Usage: `resolve N published [URL]` or `resolve N failed`, after checking the account by hand; `resolve all published` or `resolve all failed` settles every unknown one, and `resolve all published before 2026-12-01` only those due before then (approvers)."
	case "allow":
		return "Usage: `allow N off-hours` lets card #N go out outside staffed hours (approvers)."
	case "retract":
		return "Usage: `retract N` deletes published card #N from every network that can; `retract confirm` or `retract cancel` answers a retract offer (approvers)."
	case "schedule":
		return "Usage: `schedule tomorrow 9:00 to mastodon,bluesky Our release is out` schedules a post (the time as `heed post add --at` reads it, in this room's zone: \"2026-12-01 09:00\", \"monday 14:30\", \"in 2 hours\", +30m); sent as a reply to a message without the text, it posts that message's text. Someone other than you approves it."
	case "sensitive":
		return "Usage: `sensitive 2026-12-01 \"product recall\"` marks a day as sensitive (MM-DD for every year); `sensitive` lists the days added in chat."
	}
	return HelpText
}

// HelpText lists the commands.
const HelpText = "heed commands:\n" +
	"  pause [reason]            stop all publishing at once (anyone)\n" +
	"  pause TARGET [reason]     stop one target\n" +
	"  resume [TARGET]           lift the pause (approvers)\n" +
	"  status                    pauses and counts\n" +
	"  queue                     the next occurrences\n" +
	"  cancel N                  drop card #N\n" +
	"  delay N 2h                move card #N; it needs a fresh approval\n" +
	"  resolve N published|failed [URL]   settle an unknown outcome\n" +
	"  resolve all published|failed [before TIME]   settle every unknown one (due before TIME)\n" +
	"  allow N off-hours         let card #N go out outside staffed hours (approvers)\n" +
	"  retract N                 delete published card #N everywhere it can be (approvers)\n" +
	"  pause retract 2h [reason] pause, and offer to retract what went out in the last 2h\n" +
	"  retract confirm|cancel    answer that offer (approvers)\n" +
	"  sensitive DATE \"name\"     mark a day as sensitive (approvers); `sensitive` lists them\n" +
	"  schedule TIME to T1,T2 TEXT   schedule a post (TIME as for heed post add --at, in this room's zone);\n" +
	"                            as a reply to a message, without TEXT, it posts that message's text.\n" +
	"                            Someone other than its author approves it.\n" +
	"React on a card to approve or reject it; take the reaction back to withdraw.\n" +
	"React 🛑 on a card to hold that one post (anyone); 🗑 on a published card retracts it (approvers)."
