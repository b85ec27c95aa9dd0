package bot

import (
	"reflect"
	"testing"
	"time"
)

func TestParseCommand(t *testing.T) {
	isTarget := func(s string) bool { return s == "mastodon" || s == "log" }
	cases := []struct {
		in      string
		want    Command
		isCmd   bool
		wantErr bool
	}{
		{"pause", Command{Name: "pause"}, true, false},
		{"PAUSE breaking news in Nice", Command{Name: "pause", Reason: "breaking news in Nice"}, true, false},
		{"Pause: now", Command{Name: "pause", Reason: "now"}, true, false},
		{"pause mastodon instance down", Command{Name: "pause", Target: "mastodon", Reason: "instance down"}, true, false},
		{"resume", Command{Name: "resume"}, true, false},
		{"resume log", Command{Name: "resume", Target: "log"}, true, false},
		{"resume everything", Command{Name: "resume"}, true, true},
		{"status", Command{Name: "status"}, true, false},
		{"cancel 12", Command{Name: "cancel", N: 12}, true, false},
		{"cancel #12", Command{Name: "cancel", N: 12}, true, false},
		{"cancel twelve", Command{Name: "cancel"}, true, true},
		{"delay 3 2h", Command{Name: "delay", N: 3, Delay: 2 * time.Hour}, true, false},
		{"delay 3 soon", Command{Name: "delay", N: 3}, true, true},
		{"delay 3", Command{Name: "delay", N: 3}, true, true},
		{"resolve 4 published https://x.example/1", Command{Name: "resolve", N: 4, Arg: "published", URL: "https://x.example/1"}, true, false},
		{"resolve 4 maybe", Command{Name: "resolve", N: 4}, true, true},
		{"resolve all published", Command{Name: "resolve", All: true, Arg: "published"}, true, false},
		{"resolve all failed before 2026-12-01", Command{Name: "resolve", All: true, Arg: "failed", Before: "2026-12-01"}, true, false},
		{"resolve all published BEFORE tomorrow 9:00", Command{Name: "resolve", All: true, Arg: "published", Before: "tomorrow 9:00"}, true, false},
		{"resolve all published before", Command{}, true, true},
		{"resolve all published after 2026-12-01", Command{}, true, true},
		{"resolve all maybe", Command{}, true, true},
		{"allow 7 off-hours", Command{Name: "allow", N: 7, Arg: "off-hours"}, true, false},
		{"allow #7 OFFHOURS", Command{Name: "allow", N: 7, Arg: "off-hours"}, true, false},
		{"allow 7", Command{Name: "allow", N: 7}, true, true},
		{"allow me to explain", Command{}, false, false},
		{"retract 5", Command{Name: "retract", N: 5}, true, false},
		{"retract confirm", Command{Name: "retract", Arg: "confirm"}, true, false},
		{"retract Cancel 2", Command{Name: "retract", Arg: "cancel", N: 2}, true, false},
		{"retract confirm soon", Command{Name: "retract", Arg: "confirm"}, true, true},
		{"retract it", Command{Name: "retract"}, true, true},
		{"pause retract 2h breaking news", Command{Name: "pause", Window: 2 * time.Hour, Reason: "breaking news"}, true, false},
		{"pause retract everything", Command{Name: "pause", Reason: "retract everything"}, true, false},
		{`sensitive 2026-12-01 "product recall"`, Command{Name: "sensitive", Arg: "2026-12-01", Reason: "product recall"}, true, false},
		{"sensitive 12-01 „Rückruf“", Command{Name: "sensitive", Arg: "12-01", Reason: "Rückruf"}, true, false},
		{"sensitive", Command{Name: "sensitive"}, true, false},
		{"sensitive 2026-12-01", Command{Name: "sensitive", Arg: "2026-12-01"}, true, true},
		{"sensitive topic, careful", Command{}, false, false},
		{"good morning team", Command{}, false, false},
		{"", Command{}, false, false},
		{"paused yesterday?", Command{}, false, false},
		// Formatting marks around the message or its first word are read
		// through: a pause in bold is still a pause.
		{"*pause*", Command{Name: "pause"}, true, false},
		{"`pause`", Command{Name: "pause"}, true, false},
		{"_pause_", Command{Name: "pause"}, true, false},
		{"**PAUSE**", Command{Name: "pause"}, true, false},
		{"```pause```", Command{Name: "pause"}, true, false},
		{"*pause* breaking news", Command{Name: "pause", Reason: "breaking news"}, true, false},
		{"*pause breaking news*", Command{Name: "pause", Reason: "breaking news"}, true, false},
		{"_Pause:_ now", Command{Name: "pause", Reason: "now"}, true, false},
		{"pause *mastodon* instance down", Command{Name: "pause", Target: "mastodon", Reason: "instance down"}, true, false},
		{"`resume`", Command{Name: "resume"}, true, false},
		{"*resume* `log`", Command{Name: "resume", Target: "log"}, true, false},
		{"_status_", Command{Name: "status"}, true, false},
		{"`cancel 12`", Command{Name: "cancel", N: 12}, true, false},
		{"*paused* yesterday?", Command{}, false, false},
		{"_good morning_", Command{}, false, false},
		{"schedule tomorrow 9:00 to mastodon Release day", Command{Name: "schedule", When: "tomorrow 9:00", Targets: []string{"mastodon"}, Text: "Release day"}, true, false},
		{"Schedule 2026-12-01 09:00 TO mastodon,log Two\n\nlines", Command{Name: "schedule", When: "2026-12-01 09:00", Targets: []string{"mastodon", "log"}, Text: "Two\n\nlines"}, true, false},
		{"schedule in 2 hours to mastodon, log text to read", Command{Name: "schedule", When: "in 2 hours", Targets: []string{"mastodon", "log"}, Text: "text to read"}, true, false},
		{"schedule +30m to `log`", Command{Name: "schedule", When: "+30m", Targets: []string{"log"}}, true, false},
		{"schedule", Command{}, true, true},
		{"schedule to log hi", Command{}, true, true},
		{"schedule tomorrow 9:00 to", Command{}, true, true},
		{"schedule looks tight this week", Command{}, false, false},
		{"*", Command{}, false, false},
		{"``", Command{}, false, false},
	}
	for _, c := range cases {
		got, isCmd, err := ParseCommand(c.in, isTarget)
		if isCmd != c.isCmd || (err != nil) != c.wantErr {
			t.Errorf("%q: isCmd=%v err=%v; want isCmd=%v err=%v", c.in, isCmd, err, c.isCmd, c.wantErr)
			continue
		}
		if !c.wantErr && !reflect.DeepEqual(got, c.want) {
			t.Errorf("%q: got %+v, want %+v", c.in, got, c.want)
		}
	}
}
