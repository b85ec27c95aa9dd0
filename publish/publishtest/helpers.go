package publishtest

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/goccy/go-yaml"

	"github.com/heed-dev/heed/publish"
)

// The helpers below are the checks every network package's own tests
// repeat, beyond the suite.

// Decoder returns a strict YAML decoder of settings, as heed's config gives
// a factory in publish.Config.Decode.
func Decoder(settings string) func(any) error {
	return func(v any) error { return yaml.UnmarshalWithOptions([]byte(settings), v, yaml.Strict()) }
}

// WantConfigError fails t unless publish.New refuses a target of kind with
// settings, with an error that says every string in want.
func WantConfigError(t testing.TB, kind, settings string, want ...string) {
	t.Helper()
	_, err := publish.New(publish.Config{Name: kind, Kind: kind, Decode: Decoder(settings)})
	if err == nil {
		t.Errorf("%q: no error", settings)
		return
	}
	for _, w := range want {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("%q: error %q does not say %q", settings, err, w)
		}
	}
}

// Problems returns the messages of v's problems with req joined by "|", so
// a table test can state them as one string ("" for none).
func Problems(v publish.Validator, req publish.Request) string {
	var msgs []string
	for _, p := range v.Validate(req) {
		msgs = append(msgs, p.Message)
	}
	return strings.Join(msgs, "|")
}

// WantAmbiguousTimeout publishes req with p while b stalls after the send,
// and fails t unless the error is Ambiguous and says where the user can
// check whether the post went out (says, e.g. the account's URL).
func WantAmbiguousTimeout(t testing.TB, p publish.Publisher, b Backend, req publish.Request, says string) {
	t.Helper()
	b.FailNext(TimeoutAfterSend)
	_, err := p.Publish(context.Background(), req)
	if k, _ := publish.Classify(err); k != publish.Ambiguous {
		t.Fatalf("kind %v, want ambiguous: %v", k, err)
	}
	if !strings.Contains(err.Error(), says) {
		t.Errorf("error %q does not say where to check, %q", err, says)
	}
}

// Golden compares got, a JSON payload, with the recorded testdata/name,
// both indented the same way so a diff reads well; with update it records
// got instead. Each package passes its own -update flag.
func Golden(t testing.TB, name string, got []byte, update bool) {
	t.Helper()
	var v any
	if err := json.Unmarshal(got, &v); err != nil {
		t.Fatalf("%s: not JSON: %v: %s", name, err, got)
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false) // keep "&" and "<" readable in testdata
	enc.SetIndent("", "  ")
	enc.Encode(v)
	pretty := buf.Bytes()
	path := filepath.Join("testdata", name)
	if update {
		if err := os.WriteFile(path, pretty, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		t.Fatalf("%s missing: run go test -update", path)
	}
	if !bytes.Equal(pretty, want) {
		t.Errorf("%s differs from the recorded payload:\ngot:\n%s\nwant:\n%s", name, pretty, want)
	}
}
