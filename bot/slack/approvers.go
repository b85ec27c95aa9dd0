package slack

import (
	"context"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"sync"
	"time"
)

// groupCache holds the members of the configured approver groups. The
// engine asks IsApprover inside store transactions, so it answers from
// memory; the members are read with usergroups.users.list when the adapter
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

// IsApprover reports whether user may approve in room as a current member
// of one of the channel's approver groups, or as one of its approvers in
// the Slack configuration. (The room's approvers in heed's configuration
// are checked by the engine before it asks.)
func (a *Adapter) IsApprover(ctx context.Context, room, user string) (bool, string, error) {
	ch, ok := a.channels[room]
	if !ok {
		return false, "not a review channel", nil
	}
	if slices.Contains(ch.Approvers, user) {
		return true, "", nil
	}
	if len(ch.ApproverGroups) == 0 {
		return false, "", nil
	}
	g := &a.groups
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.members == nil {
		return false, "the approver groups could not be read from Slack yet", nil
	}
	for _, id := range ch.ApproverGroups {
		if g.members[id][user] {
			return true, "", nil
		}
	}
	return false, "not in the channel's approver groups", nil
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

	// Read outside the lock: IsApprover keeps answering meanwhile.
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
