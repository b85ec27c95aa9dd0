package approvals

// CardRef says where an occurrence's card is.
type CardRef struct {
	Occurrence int64
	Adapter    string
	Room       string
	Ref        string
}

// DirtyRef is an occurrence whose card changed since it was last
// rendered, with its change count.
type DirtyRef struct{ ID, Dirty int64 }
