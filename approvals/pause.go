package approvals

import (
	"time"
)

// Pause is a recorded brake: global (Target "") or on one target.
type Pause struct {
	ID     int64     `json:"id"`
	Target string    `json:"target,omitempty"`
	By     string    `json:"by"`
	Reason string    `json:"reason,omitempty"`
	At     time.Time `json:"at"`
}

// PauseReceipt is what a pause did, for the bot's answer.
type PauseReceipt struct {
	Pause      Pause
	Waiting    int // open occurrences in the review window that will be held if their time comes during the pause
	Publishing int // deliveries already under way (they finish; nothing new starts)
	Already    []Pause
}

// PausedFor returns the pause that stops target, if any.
func PausedFor(pauses []Pause, target string) (Pause, bool) {
	for _, p := range pauses {
		if p.Target == "" || p.Target == target {
			return p, true
		}
	}
	return Pause{}, false
}

// ResumeReceipt is what a resume did.
type ResumeReceipt struct {
	Resumed []Pause
	Held    []int64 // occurrences held during the pause: each needs a fresh decision
}
