package approvals

import (
	"time"
)

// AuditEntry is one line of the append-only audit log: who did what, when,
// and where.
type AuditEntry struct {
	ID         int64     `json:"id"`
	At         time.Time `json:"at"`
	Actor      string    `json:"actor"`
	Action     string    `json:"action"` // post.add, decision.approve, pause, publish.ok, ...
	PostID     int64     `json:"post_id,omitempty"`
	Occurrence int64     `json:"occurrence,omitempty"`
	Target     string    `json:"target,omitempty"`
	Place      string    `json:"place,omitempty"` // where: "console", "slack:C0123", "cli"
	Detail     string    `json:"detail,omitempty"`
}
