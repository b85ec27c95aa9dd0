package slack

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"
)

// groupCache holds the members of the configured approver groups, read
// with usergroups.users.list and read again once GroupRefresh has passed.
type groupCache struct {
	mu      sync.Mutex
	members map[string]map[string]bool // group id → user ids
	loaded  time.Time
	retryAt time.Time // after a failed refresh, when to try again
}

// groupRetry is how long a failed refresh waits before the next try, while
// the members read last keep counting.
const groupRetry = 30 * time.Second

// IsApprover reports whether user may approve in room: listed as an
// approver of the channel, or a current member of one of its approver
// groups.
func (a *Adapter) IsApprover(ctx context.Context, room, user string) (bool, string, error) {
	ch, ok := a.channels[room]
	if !ok {
		return false, "not a review channel", nil
	}
	if slices.Contains(ch.Approvers, user) {
		return true, "", nil
	}
	if len(ch.ApproverGroups) == 0 {
		return false, "not an approver", nil
	}
	members, err := a.groupMembers(ctx)
	if err != nil {
		return false, "", err
	}
	for _, g := range ch.ApproverGroups {
		if members[g][user] {
			return true, "", nil
		}
	}
	return false, "not an approver (not listed, not in the approver groups)", nil
}

// groupMembers returns the approver groups' members, refreshing them when
// they are older than GroupRefresh.
func (a *Adapter) groupMembers(ctx context.Context) (map[string]map[string]bool, error) {
	g := &a.groups
	g.mu.Lock()
	defer g.mu.Unlock()
	now := a.now()
	fresh := g.members != nil && now.Sub(g.loaded) < a.cfg.GroupRefresh
	if fresh || (g.members != nil && now.Before(g.retryAt)) {
		return g.members, nil
	}
	next := map[string]map[string]bool{}
	var err error
	for _, id := range a.allGroups() {
		var users []string
		err = a.api.call(ctx, "usergroups.users.list", func(ctx context.Context) (err error) {
			users, err = a.api.c.GetUserGroupMembersContext(ctx, id)
			return err
		})
		if err != nil {
			err = fmt.Errorf("slack: reading the members of user group %s: %w", id, err)
			break
		}
		next[id] = map[string]bool{}
		for _, u := range users {
			next[id][u] = true
		}
	}
	if err != nil {
		if g.members == nil {
			return nil, err
		}
		a.log.Warn("could not refresh approver groups; using the members read last", "read_at", g.loaded, "err", err)
		g.retryAt = now.Add(groupRetry)
		return g.members, nil
	}
	g.members, g.loaded = next, now
	return next, nil
}

func (a *Adapter) allGroups() []string {
	var out []string
	for _, ch := range a.cfg.Channels {
		for _, g := range ch.ApproverGroups {
			if !slices.Contains(out, g) {
				out = append(out, g)
			}
		}
	}
	slices.SortFunc(out, strings.Compare)
	return out
}
