package approvals

import (
	"fmt"
	"slices"
	"sort"
)

// People says which identities belong to one person: a name on the command
// line, a Slack user id, a Matrix user id. A post's author writes as one
// identity and reacts as another; heed compares people, so an author never
// approves their own post from a chat, and a person counts once whichever
// identity they react from. The zero value knows nobody: every identity is
// its own person.
type People struct {
	byID map[string]string // identity → person
}

// NewPeople builds People from each person's identities. A person's name
// is one of their identities too. An identity named for two people is an
// error.
func NewPeople(ids map[string][]string) (People, error) {
	p := People{byID: map[string]string{}}
	names := make([]string, 0, len(ids))
	for name := range ids {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		for _, id := range append([]string{name}, ids[name]...) {
			if id == "" {
				return People{}, fmt.Errorf("people: %s has an empty identity", name)
			}
			if other, ok := p.byID[id]; ok && other != name {
				return People{}, fmt.Errorf("people: %q is an identity of both %s and %s", id, other, name)
			}
			p.byID[id] = name
		}
	}
	return p, nil
}

// Person is the person identity belongs to, or identity itself when it is
// nobody's.
func (p People) Person(identity string) string {
	if name, ok := p.byID[identity]; ok {
		return name
	}
	return identity
}

// Identities lists every identity of the person identity belongs to, the
// person's name first; just identity when it is nobody's.
func (p People) Identities(identity string) []string {
	name, ok := p.byID[identity]
	if !ok {
		return []string{identity}
	}
	out := []string{name}
	for id, who := range p.byID {
		if who == name && id != name {
			out = append(out, id)
		}
	}
	sort.Strings(out[1:])
	return out
}

// Of is the person identity belongs to, or "" when it is nobody's.
func (p People) Of(identity string) string { return p.byID[identity] }

// Known reports whether identity belongs to a person.
func (p People) Known(identity string) bool {
	_, ok := p.byID[identity]
	return ok
}

// Same reports whether two identities are one person.
func (p People) Same(a, b string) bool { return a != "" && p.Person(a) == p.Person(b) }

// Names lists the people, sorted.
func (p People) Names() []string {
	var out []string
	for _, name := range p.byID {
		if !slices.Contains(out, name) {
			out = append(out, name)
		}
	}
	sort.Strings(out)
	return out
}
