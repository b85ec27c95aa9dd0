package main

import (
	"context"
	"fmt"
	"io"
	"strings"
	"time"

	heedapp "github.com/heed-dev/heed/app"
	"github.com/heed-dev/heed/approvals"
	"github.com/heed-dev/heed/bot"
	"github.com/heed-dev/heed/sqlite"
)

// replicaView is one replica as `heed status` shows it.
type replicaView struct {
	ID      string    `json:"id"`
	Host    string    `json:"host"`
	PID     int       `json:"pid"`
	Started time.Time `json:"started"`
	Seen    time.Time `json:"last_seen"`
	Live    bool      `json:"live"`
	Holds   []string  `json:"holds"`
}

// chatView is one chat lease as `heed status` shows it.
type chatView struct {
	Chat    string    `json:"chat"`
	Holder  string    `json:"holder,omitempty"`
	Until   time.Time `json:"until,omitzero"`
	Alive   time.Time `json:"heard,omitzero"`
	Deaf    string    `json:"deaf,omitempty"`
	Lapsed  bool      `json:"lapsed"`
	LastOne string    `json:"last_holder,omitempty"`
}

// replicaStatus reads the replicas and chat leases of a PostgreSQL
// database; nil on SQLite, where one heed runs per file.
func replicaStatus(ctx context.Context, st *sqlite.Store, c *heedapp.Config, now time.Time) ([]replicaView, []chatView, error) {
	if st.Dialect() != sqlite.DialectPostgres {
		return nil, nil, nil
	}
	reps, err := st.Replicas(ctx)
	if err != nil {
		return nil, nil, err
	}
	holders, err := st.ChatHolders(ctx)
	if err != nil {
		return nil, nil, err
	}
	lease := c.ChatLease.Or(bot.DefaultLease)
	rv := make([]replicaView, 0, len(reps))
	for _, r := range reps {
		holds := []string{}
		for _, h := range holders {
			if h.Replica == r.ID && now.Before(h.Expires) {
				holds = append(holds, h.Chat)
			}
		}
		rv = append(rv, replicaView{ID: r.ID, Host: r.Host, PID: r.PID, Started: r.Started, Seen: r.Seen,
			Live: now.Sub(r.Seen) <= replicaDead(lease), Holds: holds})
	}
	cv := make([]chatView, 0, len(holders))
	for _, h := range holders {
		v := chatView{Chat: h.Chat}
		if now.Before(h.Expires) {
			v.Holder, v.Until, v.Alive, v.Deaf = h.Replica, h.Expires, h.Alive, h.Deaf
		} else {
			v.Lapsed, v.LastOne = true, h.Replica
		}
		cv = append(cv, v)
	}
	return rv, cv, nil
}

// printReplicas writes the replicas and who holds each chat.
func printReplicas(w io.Writer, rv []replicaView, cv []chatView, now time.Time, loc *time.Location) {
	if rv == nil && cv == nil {
		return
	}
	if len(rv) == 0 {
		fmt.Fprintln(w, "replicas: none running")
	}
	for _, r := range rv {
		state := "live"
		if !r.Live {
			state = "not seen for " + bot.Relative(r.Seen, now) + " (stopped?)"
		}
		holds := "holds no chat"
		if len(r.Holds) > 0 {
			holds = "holds " + strings.Join(r.Holds, ", ")
		}
		fmt.Fprintf(w, "replica %s · %s · %s · started %s · last seen %s\n", r.ID, state, holds,
			r.Started.In(loc).Format("2006-01-02 15:04:05 MST"), r.Seen.In(loc).Format("15:04:05 MST"))
	}
	for _, c := range cv {
		switch {
		case c.Lapsed:
			fmt.Fprintf(w, "chat %s: no replica holds it (last held by %s); publishing holds until one does\n", c.Chat, c.LastOne)
		case c.Deaf != "":
			fmt.Fprintf(w, "chat %s: held by %s until %s; cannot hear: %s\n", c.Chat, c.Holder, c.Until.In(loc).Format("15:04:05"), c.Deaf)
		default:
			fmt.Fprintf(w, "chat %s: held by %s until %s\n", c.Chat, c.Holder, c.Until.In(loc).Format("15:04:05"))
		}
	}
}

// replicaHealth is `heed healthcheck` on PostgreSQL: a replica on this
// host has heartbeated within its renewal period's bound. Reaching the
// database at all is the first check: a replica that cannot, fails.
func replicaHealth(ctx context.Context, st *sqlite.Store, c *heedapp.Config, now time.Time) (string, error) {
	reps, err := st.Replicas(ctx)
	if err != nil {
		return "", approvals.Errorf(approvals.EUNAVAILABLE, "cannot read the replicas from %s: %v", st.Path(), err)
	}
	lease := c.ChatLease.Or(bot.DefaultLease)
	fresh := lease // four renewal periods: a heartbeat or two missed is not yet a failure
	host := hostname()
	var last approvals.Replica
	for _, r := range reps {
		if r.Host != host {
			continue
		}
		if now.Sub(r.Seen) <= fresh {
			return fmt.Sprintf("ok: replica %s heartbeated at %s", r.ID, r.Seen.Format(time.RFC3339)), nil
		}
		if r.Seen.After(last.Seen) {
			last = r
		}
	}
	if last.ID != "" {
		return "", approvals.Errorf(approvals.ECONFLICT, "the heed replica on %s (%s) has not heartbeated since %s", host, last.ID, last.Seen.Format(time.RFC3339))
	}
	return "", approvals.Errorf(approvals.ECONFLICT, "no heed replica on %s is registered in %s", host, st.Path())
}

// liveReplicas names the replicas that heartbeat on a PostgreSQL
// database ("" when none), and when the last of them was seen, as the
// dispatcher lease's holder and expiry are on SQLite.
func liveReplicas(ctx context.Context, st *sqlite.Store, c *heedapp.Config) (string, time.Time, error) {
	reps, err := st.Replicas(ctx)
	if err != nil {
		return "", time.Time{}, err
	}
	dead := replicaDead(c.ChatLease.Or(bot.DefaultLease))
	var ids []string
	var until time.Time
	for _, r := range reps {
		if time.Since(r.Seen) <= dead {
			ids = append(ids, r.ID)
			until = r.Seen.Add(dead)
		}
	}
	if len(ids) > 1 {
		return fmt.Sprintf("%d replicas: %s", len(ids), strings.Join(ids, "; ")), until, nil
	}
	return strings.Join(ids, ""), until, nil
}
