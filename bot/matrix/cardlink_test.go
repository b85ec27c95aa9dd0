package matrix

import "testing"

func TestCardLink(t *testing.T) {
	a := &Adapter{}
	if got, want := a.CardLink("!review:example.org", "$ev1"), "https://matrix.to/#/!review:example.org/$ev1"; got != want {
		t.Fatalf("CardLink = %q, want %q", got, want)
	}
	if got := a.CardLink("!review:example.org", ""); got != "" {
		t.Fatalf("CardLink without a card = %q, want none", got)
	}
}
