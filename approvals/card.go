package approvals

// CardRef says where an occurrence's card is.
type CardRef struct {
	Occurrence int64
	Adapter    string
	Room       string
	Ref        string
}
