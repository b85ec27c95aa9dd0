package approvals

import "time"

// ChatHolder is the record of the heed replica that holds one chat's
// connection (or the news tripwire's poller) when several replicas share
// one database: whose it is, until when, and what the connection last
// heard, as its holder last wrote it.
type ChatHolder struct {
	Chat    string
	Replica string
	Since   time.Time // when this replica took it
	Renewed time.Time // its holder's last renewal
	Expires time.Time // the lease lapses then unless renewed
	Alive   time.Time // the connection's last sign of life (zero: none yet)
	Deaf    string    // why the connection cannot hear now, or ""
}

// Replica is one registered heed run on a shared database.
type Replica struct {
	ID      string
	Host    string
	PID     int
	Started time.Time
	Seen    time.Time // its last heartbeat
	Holds   []string  // the chats (and "tripwire") whose leases it holds
}

// ChatRequest is a signed request of a chat that reached a replica not
// holding the chat (Slack's Events API behind a load balancer), kept in
// the database until the chat's holder handles it.
type ChatRequest struct {
	Chat        string
	Key         string // what makes it one request: its event_id, or its body's hash
	ContentType string
	Body        []byte
	Received    time.Time
}
