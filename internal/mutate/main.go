// Command mutate proves that heed's guards are tested: for each mutation in
// its table it removes or weakens one guard in the source, runs the tests
// named for that guard, and expects them to fail. A mutation the tests do
// not catch, or one whose source text is no longer found, fails the run.
//
// The source tree is never changed: each mutated file reaches the compiler
// through `go test -overlay`.
//
//	go run ./internal/mutate            every mutation
//	go run ./internal/mutate -run pause  the mutations whose name matches
//	go run ./internal/mutate -list       the table
//	go run ./internal/mutate -check      each source text found once, no tests run
//	go run ./internal/mutate -j 2 -shard 0/2  half the table, two at a time
//
// The tests run with -tags goolm (heed's build tag: pure-Go Olm for
// encrypted Matrix rooms; a build without it fails), or the tags given
// with -tags.
package main

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"time"
)

// buildTags are passed to every go test (-tags).
var buildTags string

// Mutation removes or weakens one guard.
type Mutation struct {
	Name  string // what the mutation does, in words
	File  string // path from the module root
	From  string // source text, found exactly once in File
	To    string // what it becomes
	Pkg   string // package whose tests must catch it, as ./path
	Tests string // regexp of the tests that must fail (go test -run)
}

func main() {
	run := flag.String("run", "", "only the mutations whose name matches this regexp")
	list := flag.Bool("list", false, "print the table and exit")
	check := flag.Bool("check", false, "only check that each mutation's source text is found exactly once, and exit")
	jobs := flag.Int("j", 1, "mutations tried at once")
	shard := flag.String("shard", "", "K/N: only every Nth mutation of the table, from the Kth (0-based); every mutation's source text is still checked")
	flag.StringVar(&buildTags, "tags", "goolm", "build tags for go test (heed needs goolm)")
	flag.Parse()
	root, err := moduleRoot()
	if err != nil {
		fatal(err)
	}
	var pick *regexp.Regexp
	if *run != "" {
		if pick, err = regexp.Compile(*run); err != nil {
			fatal(fmt.Errorf("-run: %w", err))
		}
	}
	k, n := 0, 1
	if *shard != "" {
		if _, err := fmt.Sscanf(*shard, "%d/%d", &k, &n); err != nil || n < 1 || k < 0 || k >= n {
			fatal(fmt.Errorf("-shard %q: give K/N with 0 <= K < N, such as 0/3", *shard))
		}
	}
	if *jobs < 1 {
		*jobs = 1
	}
	tmp, err := os.MkdirTemp("", "heed-mutate-")
	if err != nil {
		fatal(err)
	}
	defer os.RemoveAll(tmp)

	var picked []int
	stale := 0
	for i, m := range mutations {
		if pick != nil && !pick.MatchString(m.Name) {
			continue
		}
		if *list {
			fmt.Printf("%-60s %s  %s -run '%s'\n", m.Name, m.File, m.Pkg, m.Tests)
			continue
		}
		// Every picked mutation's text is checked, whichever shard runs.
		src, err := os.ReadFile(filepath.Join(root, m.File))
		if c := bytes.Count(src, []byte(m.From)); err != nil || c != 1 {
			fmt.Printf("STALE    %-60s %s: source text found %d times %v\n", m.Name, m.File, c, err)
			stale++
			continue
		}
		if !*check && i%n == k {
			picked = append(picked, i)
		}
	}
	if *list {
		return
	}
	if *check {
		fmt.Printf("mutations: source text of each found once, %d stale\n", stale)
		if stale > 0 {
			os.Exit(1)
		}
		return
	}
	if len(picked) == 0 && stale == 0 {
		fatal(fmt.Errorf("no mutation matches %q", *run))
	}

	type result struct{ line, verdict string }
	results := make([]chan result, len(picked))
	sem := make(chan struct{}, *jobs)
	for j, i := range picked {
		results[j] = make(chan result, 1)
		go func() {
			sem <- struct{}{}
			defer func() { <-sem }()
			m := mutations[i]
			start := time.Now()
			verdict, detail := try(root, tmp, i, m)
			results[j] <- result{fmt.Sprintf("%-8s %-60s %5.1fs  %s", verdict, m.Name, time.Since(start).Seconds(), detail), verdict}
		}()
	}
	failed := stale
	for _, c := range results { // in the table's order
		r := <-c
		fmt.Println(r.line)
		if r.verdict != "caught" {
			failed++
		}
	}
	fmt.Printf("mutations: %d caught, %d not", len(picked)-(failed-stale), failed)
	if *shard != "" {
		fmt.Printf(" (shard %s of %d in the table)", *shard, len(mutations))
	}
	fmt.Println()
	if failed > 0 {
		os.Exit(1)
	}
}

// try applies m through an overlay and runs its tests. It returns "caught"
// when they fail, "SURVIVED" when they pass, "STALE" when the source text
// is not found exactly once, "BROKEN" when the mutant does not compile.
func try(root, tmp string, i int, m Mutation) (string, string) {
	path := filepath.Join(root, m.File)
	src, err := os.ReadFile(path)
	if err != nil {
		return "STALE", err.Error()
	}
	if c := bytes.Count(src, []byte(m.From)); c != 1 {
		return "STALE", fmt.Sprintf("%s holds the text %d times, not once: update the mutation", m.File, c)
	}
	mutant := filepath.Join(tmp, fmt.Sprintf("%d-%s", i, filepath.Base(m.File)))
	if err := os.WriteFile(mutant, bytes.Replace(src, []byte(m.From), []byte(m.To), 1), 0o600); err != nil {
		return "BROKEN", err.Error()
	}
	overlay := filepath.Join(tmp, fmt.Sprintf("%d.json", i))
	ov, _ := json.Marshal(map[string]map[string]string{"Replace": {path: mutant}})
	if err := os.WriteFile(overlay, ov, 0o600); err != nil {
		return "BROKEN", err.Error()
	}
	cmd := exec.Command("go", "test", "-tags", buildTags, "-count=1", "-overlay", overlay, "-run", m.Tests, m.Pkg)
	cmd.Dir = root
	out, err := cmd.CombinedOutput()
	switch {
	case err == nil:
		return "SURVIVED", fmt.Sprintf("%s -run '%s' passed with the guard removed", m.Pkg, m.Tests)
	case bytes.Contains(out, []byte("--- FAIL")):
		return "caught", firstFail(out)
	case bytes.Contains(out, []byte("[build failed]")) || bytes.Contains(out, []byte("[setup failed]")):
		return "BROKEN", "the mutant does not compile:\n" + string(out)
	}
	return "caught", "the tests failed: " + strings.TrimSpace(lastLine(out))
}

func firstFail(out []byte) string {
	for _, l := range strings.Split(string(out), "\n") {
		if strings.Contains(l, "--- FAIL") {
			return strings.TrimSpace(l)
		}
	}
	return ""
}

func lastLine(out []byte) string {
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	return lines[len(lines)-1]
}

func moduleRoot() (string, error) {
	out, err := exec.Command("go", "env", "GOMOD").Output()
	if err != nil {
		return "", err
	}
	mod := strings.TrimSpace(string(out))
	if mod == "" || mod == os.DevNull {
		return "", fmt.Errorf("run it inside heed's module")
	}
	return filepath.Dir(mod), nil
}

func fatal(err error) {
	fmt.Fprintln(os.Stderr, "mutate:", err)
	os.Exit(2)
}
