package main

import (
	"runtime/debug"
	"strings"
)

// versionString is heed's version: the one set with -ldflags "-X
// main.version=...", else the module version `go install …@v1.2.3`
// records, else the commit a build from a git checkout records (with
// "+dirty" when the tree had changes), else "dev".
func versionString() string {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return version
	}
	return describeVersion(version, bi)
}

func describeVersion(set string, bi *debug.BuildInfo) string {
	if set != "dev" && set != "" {
		return set
	}
	if v := bi.Main.Version; v != "" && v != "(devel)" {
		return v
	}
	var rev, at string
	dirty := false
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			rev = s.Value
		case "vcs.time":
			at = s.Value
		case "vcs.modified":
			dirty = s.Value == "true"
		}
	}
	if rev == "" {
		return "dev"
	}
	if len(rev) > 12 {
		rev = rev[:12]
	}
	var b strings.Builder
	b.WriteString("dev-" + rev)
	if dirty {
		b.WriteString("+dirty")
	}
	if at != "" {
		b.WriteString(" (" + at + ")")
	}
	return b.String()
}
