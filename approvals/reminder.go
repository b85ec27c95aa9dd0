package approvals

import "time"

// ReminderDue is an occurrence still in review that may be owed a
// reminder to decide on it.
type ReminderDue struct {
	Occurrence int64
	At         time.Time // the occurrence's time
	Room       string    // its post's review room ("" is the default room)
	// LastSlot is the last reminder slot sent for this time, -1 for none.
	LastSlot int
}

// Reminder is one reminder to decide on an occurrence: one per occurrence,
// time and slot (timing.ReminderSlot), sent at most once.
type Reminder struct {
	Occurrence int64
	PostID     int64
	At         time.Time // the occurrence's time
	Slot       int
	Place      string // where it is sent: "slack:C0123"
	// Detail is what the audit line says: who was mentioned, whether it
	// escalated.
	Detail string
}
