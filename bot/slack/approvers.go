package slack

import (
	"context"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/heed-dev/heed/approvals"
)

// groupCache holds the members of the configured approver groups. Roster
// answers from memory; the members are read with usergroups.users.list when the adapter
// starts and again, once GroupRefresh has passed by the adapter's clock,
// before the next event is handed to the engine.
type groupCache struct {
	mu      sync.Mutex
	members map[string]map[string]bool // group id → user ids; nil until read
	loaded  time.Time
	tried   time.Time // the last attempt, failed or not
	lastErr error
}

// groupRetry is how long a failed read waits before the next try, while
// the members read last keep counting.
const groupRetry = 30 * time.Second

// Roster says who may approve in room: the channel's approvers in the
// Slack configuration and the members of its approver groups, as last
// read. (The room's approvers in heed's configuration are the engine's.)
// It is false while groups the channel names have never been read.
func (a *Adapter) Roster(room string) (approvals.Roster, bool) {
	ch, ok := a.channels[room]
	if !ok {
		return approvals.Roster{}, false
	}
	r := approvals.Roster{Source: "slack configuration", Approvers: slices.Clone(ch.Approvers), ReadAt: a.now().UTC()}
	if len(ch.ApproverGroups) == 0 {
		return r, true
	}
	g := &a.groups
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.members == nil {
		return approvals.Roster{}, false
	}
	r.Source, r.ReadAt = "slack user groups", g.loaded.UTC()
	for _, id := range ch.ApproverGroups {
		for u := range g.members[id] {
			r.Approvers = append(r.Approvers, u)
		}
	}
	r.DefaultWhy = "not in the channel's approver groups"
	return r, true
}

// refreshGroups reads the approver groups again when the members in memory
// are older than GroupRefresh (or were never read), unless the last attempt
// failed less than groupRetry ago. A failed read keeps the members read
// last. It reports whether the members changed.
func (a *Adapter) refreshGroups(ctx context.Context) bool {
	ids := a.allGroups()
	if len(ids) == 0 {
		return false
	}
	g := &a.groups
	now := a.now()
	g.mu.Lock()
	due := g.members == nil || now.Sub(g.loaded) >= a.cfg.GroupRefresh
	if !due || (!g.tried.IsZero() && g.lastErr != nil && now.Sub(g.tried) < groupRetry) {
		g.mu.Unlock()
		return false
	}
	g.tried = now
	g.mu.Unlock()

	// Read outside the lock: Roster keeps answering meanwhile.
	next := map[string]map[string]bool{}
	var err error
	for _, id := range ids {
		var users []string
		err = a.api.call(ctx, "usergroups.users.list", func(ctx context.Context) (err error) {
			users, err = a.api.c.GetUserGroupMembersContext(ctx, id)
			return err
		})
		if err != nil {
			err = fmt.Errorf("reading the members of user group %s: %w", id, err)
			break
		}
		next[id] = map[string]bool{}
		for _, u := range users {
			next[id][u] = true
		}
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	g.lastErr = err
	if err != nil {
		if ctx.Err() == nil {
			a.log.Warn("could not read the approver groups; using the members read last", "read_at", g.loaded, "err", err)
		}
		return false
	}
	changed := !reflect.DeepEqual(g.members, next)
	g.members, g.loaded = next, now
	return changed
}

// groupChannels lists the review channels whose approvers include groups.
func (a *Adapter) groupChannels() []string {
	var out []string
	for id, ch := range a.channels {
		if len(ch.ApproverGroups) > 0 {
			out = append(out, id)
		}
	}
	slices.Sort(out)
	return out
}

func (a *Adapter) allGroups() []string {
	var out []string
	for _, ch := range a.channels {
		for _, g := range ch.ApproverGroups {
			if !slices.Contains(out, g) {
				out = append(out, g)
			}
		}
	}
	slices.SortFunc(out, strings.Compare)
	return out
}
