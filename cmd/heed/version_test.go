package main

import (
	"runtime/debug"
	"testing"
)

func TestVersionIsNeverABareDevWhenTheBuildKnowsMore(t *testing.T) {
	vcs := []debug.BuildSetting{{Key: "vcs.revision", Value: "0123456789abcdef0123"}, {Key: "vcs.time", Value: "2026-12-03T10:00:00Z"}, {Key: "vcs.modified", Value: "true"}}
	for _, c := range []struct {
		name, set string
		bi        debug.BuildInfo
		want      string
	}{
		{"ldflags win", "1.4.0", debug.BuildInfo{Main: debug.Module{Version: "v1.3.0"}}, "1.4.0"},
		{"go install module@version", "dev", debug.BuildInfo{Main: debug.Module{Version: "v1.3.0"}}, "v1.3.0"},
		{"a git checkout", "dev", debug.BuildInfo{Main: debug.Module{Version: "(devel)"}, Settings: vcs}, "dev-0123456789ab+dirty (2026-12-03T10:00:00Z)"},
		{"nothing known", "dev", debug.BuildInfo{Main: debug.Module{Version: "(devel)"}}, "dev"},
	} {
		if got := describeVersion(c.set, &c.bi); got != c.want {
			t.Errorf("%s: version %q, want %q", c.name, got, c.want)
		}
	}
}
