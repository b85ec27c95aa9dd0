package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"strings"
	"time"

	"github.com/heed-dev/heed/approvals"
)

// Several heed runs may share one PostgreSQL database. Each registers as
// a replica and heartbeats (replicas); one at a time holds each chat's
// connection through a lease row (chat_leases), renewed before it lapses
// and taken by another replica only once it has.

// replicaForget is how long a replica no longer seen stays listed.
const replicaForget = 24 * time.Hour

// RegisterReplica lists a replica as started, and forgets those not seen
// for a day.
func (s *Store) RegisterReplica(ctx context.Context, r approvals.Replica) error {
	return s.tx(ctx, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, `DELETE FROM replicas WHERE seen_at < ?`, ms(r.Started.Add(-replicaForget))); err != nil {
			return err
		}
		_, err := tx.ExecContext(ctx, `INSERT INTO replicas (id, host, pid, started_at, seen_at, holds) VALUES (?, ?, ?, ?, ?, ?)
			ON CONFLICT (id) DO UPDATE SET host = excluded.host, pid = excluded.pid, started_at = excluded.started_at,
			seen_at = excluded.seen_at, holds = excluded.holds`,
			r.ID, r.Host, r.PID, ms(r.Started), ms(r.Started), strings.Join(r.Holds, ","))
		return err
	})
}

// BeatReplica records a replica's heartbeat and what it holds now.
func (s *Store) BeatReplica(ctx context.Context, id string, now time.Time, holds []string) error {
	return s.tx(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `UPDATE replicas SET seen_at = ?, holds = ? WHERE id = ?`, ms(now), strings.Join(holds, ","), id)
		return err
	})
}

// RemoveReplica takes a stopped replica off the list.
func (s *Store) RemoveReplica(ctx context.Context, id string) error {
	return s.tx(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `DELETE FROM replicas WHERE id = ?`, id)
		return err
	})
}

// Replicas lists the registered replicas, the most recently started first.
func (s *Store) Replicas(ctx context.Context) ([]approvals.Replica, error) {
	return queryAll(ctx, s.db, func(r scanner) (approvals.Replica, error) {
		var rep approvals.Replica
		var started, seen int64
		var holds string
		err := r.Scan(&rep.ID, &rep.Host, &rep.PID, &started, &seen, &holds)
		rep.Started, rep.Seen = fromMS(started), fromMS(seen)
		if holds != "" {
			rep.Holds = strings.Split(holds, ",")
		}
		return rep, err
	}, `SELECT id, host, pid, started_at, seen_at, holds FROM replicas ORDER BY started_at DESC, id`)
}

// TakeChat gives replica the chat's lease until now+ttl when no replica
// holds it or its holder's lease has lapsed, and reports whether it did.
// The check and the take are one conditional statement.
func (s *Store) TakeChat(ctx context.Context, chat, replica string, now time.Time, ttl time.Duration) (bool, error) {
	var took bool
	err := s.tx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `INSERT INTO chat_leases (chat, holder, since, renewed_at, expires_at, alive_at, deaf) VALUES (?, ?, ?, ?, ?, 0, '')
			ON CONFLICT (chat) DO UPDATE SET holder = excluded.holder, since = excluded.since,
			renewed_at = excluded.renewed_at, expires_at = excluded.expires_at, alive_at = 0, deaf = ''
			WHERE chat_leases.expires_at <= ?`,
			chat, replica, ms(now), ms(now), ms(now.Add(ttl)), ms(now))
		if err != nil {
			return err
		}
		n, err := res.RowsAffected()
		took = n == 1
		return err
	})
	return took, err
}

// RenewChat extends replica's live lease on the chat to now+ttl and
// records what its connection last heard (alive) or why it cannot hear
// (deaf). It reports false when replica no longer holds a live lease: it
// lapsed, or another replica took it.
func (s *Store) RenewChat(ctx context.Context, chat, replica string, now time.Time, ttl time.Duration, alive time.Time, deaf string) (bool, error) {
	var renewed bool
	err := s.tx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE chat_leases SET renewed_at = ?, expires_at = ?, alive_at = ?, deaf = ?
			WHERE chat = ? AND holder = ? AND expires_at > ?`,
			ms(now), ms(now.Add(ttl)), ms(alive), deaf, chat, replica, ms(now))
		if err != nil {
			return err
		}
		n, err := res.RowsAffected()
		renewed = n == 1
		return err
	})
	return renewed, err
}

// ReleaseChat lets the chat's lease lapse at once if replica holds it, so
// that another replica takes it over at its next try.
func (s *Store) ReleaseChat(ctx context.Context, chat, replica string) error {
	return s.tx(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `UPDATE chat_leases SET expires_at = 0, deaf = ? WHERE chat = ? AND holder = ?`,
			"its replica stopped", chat, replica)
		return err
	})
}

// ChatHolder returns the lease record of one chat; false when no replica
// ever held it.
func (s *Store) ChatHolder(ctx context.Context, chat string) (approvals.ChatHolder, bool, error) {
	hs, err := s.chatHolders(ctx, `WHERE chat = ?`, chat)
	if err != nil || len(hs) == 0 {
		return approvals.ChatHolder{}, false, err
	}
	return hs[0], true, nil
}

// ChatHolders lists the lease record of every chat.
func (s *Store) ChatHolders(ctx context.Context) ([]approvals.ChatHolder, error) {
	return s.chatHolders(ctx, ``)
}

func (s *Store) chatHolders(ctx context.Context, where string, args ...any) ([]approvals.ChatHolder, error) {
	hs, err := queryAll(ctx, s.db, func(r scanner) (approvals.ChatHolder, error) {
		var h approvals.ChatHolder
		var since, renewed, exp, alive int64
		err := r.Scan(&h.Chat, &h.Replica, &since, &renewed, &exp, &alive, &h.Deaf)
		h.Since, h.Renewed, h.Expires, h.Alive = fromMS(since), fromMS(renewed), fromMS(exp), fromMS(alive)
		return h, err
	}, `SELECT chat, holder, since, renewed_at, expires_at, alive_at, deaf FROM chat_leases `+where+` ORDER BY chat`, args...)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil
	}
	return hs, err
}
