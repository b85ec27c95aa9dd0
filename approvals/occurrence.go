package approvals

import (
	"fmt"
	"time"
)

// Occurrence is one post × time.
type Occurrence struct {
	ID      int64     `json:"id"`
	PostID  int64     `json:"post_id"`
	At      time.Time `json:"at"`
	State   State     `json:"state"`
	Hash    string    `json:"hash"`
	Note    string    `json:"note,omitempty"` // why it is held, missed, unknown, waiting
	Dirty   int64     `json:"-"`
	Updated time.Time `json:"updated"`
	// FreshAfter: reactions with an id up to this were given before the
	// occurrence was last held and no longer count.
	FreshAfter int64 `json:"-"`
	// AllowOffHours is who allowed it to go out outside staffed hours.
	AllowOffHours string `json:"allow_off_hours,omitempty"`
}

// Delivery is one occurrence × target on its way out.
type Delivery struct {
	Target      string        `json:"target"`
	State       DeliveryState `json:"state"`
	Attempts    int           `json:"attempts"`
	NextAttempt time.Time     `json:"next_attempt,omitzero"`
	Key         string        `json:"idempotency_key"`
	RemoteID    string        `json:"remote_id,omitempty"`
	URL         string        `json:"url,omitempty"`
	Error       string        `json:"error,omitempty"`
}

// View is an occurrence with everything needed to render its card or
// decide on it.
type View struct {
	Occurrence
	Post       Post                `json:"post"`
	Payloads   []Payload           `json:"payloads"`
	Hashes     map[string]string   `json:"hashes"`
	Verdict    Verdict             `json:"-"`
	Deliveries []Delivery          `json:"deliveries,omitempty"`
	Problems   map[string][]string `json:"problems,omitempty"` // per target
	// Timing is what the timing safeguards say about its time.
	Timing TimingCheck `json:"timing,omitzero"`
	// Retractions are the targets someone asked to take the post back from.
	Retractions []Retraction `json:"retractions,omitempty"`
}

func (v Verdict) Summary() string {
	return fmt.Sprintf("%d approval(s) of %d needed, %d rejection(s)", len(v.Approvals), v.Required, len(v.Rejections))
}

// Summary is one line of the queue.
type Summary struct {
	ID      int64     `json:"id"`
	PostID  int64     `json:"post_id"`
	At      time.Time `json:"at"`
	State   State     `json:"state"`
	Text    string    `json:"text"`
	Targets []string  `json:"targets"`
	Note    string    `json:"note,omitempty"`
}

// Unresolved lists, in q's order, the occurrences whose publish outcome
// is unknown and whose time is before `before` (every one when before is
// the zero time): what `resolve all [before T]` settles.
func Unresolved(q []Summary, before time.Time) []int64 {
	var ids []int64
	for _, s := range q {
		if s.State == StateUnknown && (before.IsZero() || s.At.Before(before)) {
			ids = append(ids, s.ID)
		}
	}
	return ids
}

// OccurrenceFilter picks occurrences by time (From inclusive, To
// exclusive; zero is open) and state ("" is any), soonest first, at most
// Limit.
type OccurrenceFilter struct {
	From, To time.Time
	State    State
	Limit    int
}
