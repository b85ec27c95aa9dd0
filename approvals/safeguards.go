package approvals

import (
	"time"
)

// TimingCheck is what the timing safeguards (staffed hours, on-duty check,
// sensitive dates) say about one occurrence's time. timing.Safeguards computes
// it from the team's configuration; the domain acts on it: the required
// approvals in the verdict, holds at the due time.
type TimingCheck struct {
	// Warnings are shown on the card from the start ("falls on Kristallnacht").
	Warnings []string `json:"warnings,omitempty"`
	// SensitiveDays names the sensitive days it falls on.
	SensitiveDays []string `json:"sensitive_days,omitempty"`
	// Required raises the approvals needed above the room's policy (0: no change).
	Required int `json:"required,omitempty"`
	// OffHours, when set, says why the time is outside staffed hours: the
	// dispatcher holds it unless an approver allowed it.
	OffHours string `json:"off_hours,omitempty"`
	// OnDuty, when set, holds publishing unless an approver of the room
	// was seen in DutyRoom within this long before the time.
	OnDuty   time.Duration `json:"on_duty,omitempty"`
	DutyRoom string        `json:"duty_room,omitempty"`
}

// SensitiveDate is a sensitive day the team added from chat.
type SensitiveDate struct {
	ID      int64     `json:"id"`
	Date    string    `json:"date"` // YYYY-MM-DD or MM-DD
	Name    string    `json:"name"`
	AddedBy string    `json:"added_by"`
	At      time.Time `json:"at"`
}

// Retraction is one target someone asked to take a published post back from.
type Retraction struct {
	Target string       `json:"target"`
	State  RetractState `json:"state"`
	Error  string       `json:"error,omitempty"` // the network's answer when it failed
	By     string       `json:"by"`
	At     time.Time    `json:"at"`
}

// RetractItem is one published delivery to take back.
type RetractItem struct {
	Occurrence int64
	Target     string
	RemoteID   string
	URL        string
}

// RetractOffer is the offer `pause retract 2h` makes: the posts published
// in the window, retracted only once an approver confirms.
type RetractOffer struct {
	ID        int64      `json:"id"`
	By        string     `json:"by"`
	Reason    string     `json:"reason,omitempty"`
	Since     time.Time  `json:"since"`
	At        time.Time  `json:"at"`
	Items     []int64    `json:"items"` // occurrence ids
	Place     string     `json:"place,omitempty"`
	Posted    bool       `json:"posted"`
	State     OfferState `json:"state"`
	DecidedBy string     `json:"decided_by,omitempty"`
}
