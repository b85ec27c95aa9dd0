package approvals

// CardRef says where an occurrence's card is.
type CardRef struct {
	Occurrence int64
	Adapter    string
	Room       string
	Ref        string
	// Notified is the state whose people were last told about it in the
	// card's thread (held, missed, unknown), so they are told once.
	Notified State
}

// DirtyRef is an occurrence whose card changed since it was last
// rendered, with its change count.
type DirtyRef struct{ ID, Dirty int64 }
