package bot

import (
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
		{"good morning team", Command{}, false, false},
		{"", Command{}, false, false},
		{"paused yesterday?", Command{}, false, false},
	}
	for _, c := range cases {
		got, isCmd, err := ParseCommand(c.in, isTarget)
		if isCmd != c.isCmd || (err != nil) != c.wantErr {
			t.Errorf("%q: isCmd=%v err=%v; want isCmd=%v err=%v", c.in, isCmd, err, c.isCmd, c.wantErr)
			continue
		}
		if !c.wantErr && got != c.want {
			t.Errorf("%q: got %+v, want %+v", c.in, got, c.want)
		}
	}
}
