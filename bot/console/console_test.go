package console

import (
	"reflect"
	"testing"
)

func TestSplitArgs(t *testing.T) {
	cases := map[string][]string{
		`heed post add --at +5s --to log --text "Hello world"`: {"heed", "post", "add", "--at", "+5s", "--to", "log", "--text", "Hello world"},
		`a 'b c' "d \"e\"" f\ g`:                               {"a", "b c", `d "e"`, "f g"},
		`  spaced   out  `:                                     {"spaced", "out"},
		`empty "" arg`:                                         {"empty", "", "arg"},
	}
	for in, want := range cases {
		got, err := SplitArgs(in)
		if err != nil || !reflect.DeepEqual(got, want) {
			t.Errorf("SplitArgs(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	if _, err := SplitArgs(`unclosed "quote`); err == nil {
		t.Error("unclosed quote accepted")
	}
}
