package heedtest

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"time"

	"github.com/heed-dev/heed/approvals"
	"github.com/heed-dev/heed/sqlite"
)

// BulkRow is one one-shot post, and at most one occurrence of it, for
// BulkInsert. Zero fields take the defaults of Stack.Add: target "rec",
// author "author", the default room.
type BulkRow struct {
	Text    string
	Targets []string
	Author  string
	Room    string
	At      time.Time // the post's time, stored to the second as the service does
	// State is the occurrence's state. "" stores the post alone, not yet
	// turned into an occurrence (its next time is At), as for a post
	// beyond the review window.
	State approvals.State
	// Approvers each get one live ✅ reaction bound to the payload hashes
	// of this occurrence, as ReviewService.React would store it.
	Approvers []string
}

// BulkInsert writes n rows straight into the store in one transaction, far
// faster than the service can (benchmarks need a million). row fills the
// i-th row. Everything derived is computed
// as the service computes it: the occurrence takes its post's id, its hash
// is approvals.CombinedHash of approvals.Hashes(approvals.Payloads(...)),
// reactions carry the per-target hashes, and published, failed, unknown and
// publishing occurrences get one delivery per target with the service's
// idempotency key. Cards are taken as rendered (dirty = 0). No audit lines
// are written. It returns the first id used; ids are consecutive.
func BulkInsert(ctx context.Context, st *sqlite.Store, now time.Time, n int, row func(i int, r *BulkRow)) (first int64, err error) {
	// One connection; on SQLite with a page cache large enough that a
	// million rows' index pages are not spilled to the WAL over and over,
	// put back to SQLite's default before the connection returns to the
	// pool.
	conn, err := st.DB().Conn(ctx)
	if err != nil {
		return 0, err
	}
	defer conn.Close()
	if st.Dialect() == sqlite.DialectSQLite {
		if _, err = conn.ExecContext(ctx, `PRAGMA cache_size = -262144`); err != nil {
			return 0, err
		}
		defer conn.ExecContext(context.WithoutCancel(ctx), `PRAGMA cache_size = -2000`)
	}
	tx, err := conn.BeginTx(ctx, nil)
	if err != nil {
		return 0, err
	}
	defer func() {
		if err != nil {
			tx.Rollback()
		}
	}()
	if err = tx.QueryRowContext(ctx, `SELECT next FROM seq WHERE id = 1`).Scan(&first); err != nil {
		return 0, err
	}
	prep := func(q string) *sql.Stmt {
		if err != nil {
			return nil
		}
		var s *sql.Stmt
		s, err = tx.PrepareContext(ctx, q)
		return s
	}
	insPost := prep(`INSERT INTO posts (id, text, targets, author, room, at, tz, next_at, created_at, updated_at)
		VALUES (?, ?, ?, ?, ?, ?, 'UTC', ?, ?, ?)`)
	insOcc := prep(`INSERT INTO occurrences (id, post_id, at, state, hash, dirty, updated_at) VALUES (?, ?, ?, ?, ?, 0, ?)`)
	insReaction := prep(`INSERT INTO reactions (occurrence_id, "user", user_name, emoji, hashes, at, source) VALUES (?, ?, ?, '✅', ?, ?, 'bulk')`)
	insDelivery := prep(`INSERT INTO deliveries (occurrence_id, target, state, attempts, idempotency_key, updated_at) VALUES (?, ?, ?, 1, ?, ?)`)
	if err != nil {
		return 0, err
	}
	nowMS := now.UnixMilli()
	for i := 0; i < n; i++ {
		var r BulkRow
		row(i, &r)
		if r.At.IsZero() {
			return 0, fmt.Errorf("bulk row %d has no time", i)
		}
		if len(r.Targets) == 0 {
			r.Targets = []string{"rec"}
		}
		if r.Author == "" {
			r.Author = "author"
		}
		if r.Text == "" {
			r.Text = fmt.Sprintf("bulk post %d", i)
		}
		id := first + int64(i)
		at := r.At.UTC().Truncate(time.Second)
		targets, _ := json.Marshal(r.Targets)
		var nextAt any
		if r.State == "" {
			nextAt = at.UnixMilli()
		}
		if _, err = insPost.ExecContext(ctx, id, r.Text, string(targets), r.Author, r.Room, at.UnixMilli(), nextAt, nowMS, nowMS); err != nil {
			return 0, fmt.Errorf("bulk post %d: %w", i, err)
		}
		if r.State == "" {
			continue
		}
		// Media as the store reads it back ('[]', not null): it is part of
		// the hash.
		p := approvals.Post{ID: id, Text: r.Text, Targets: r.Targets, Author: r.Author, Room: r.Room, Media: []approvals.Media{}}
		hashes := approvals.Hashes(approvals.Payloads(&p, at))
		hash := approvals.CombinedHash(hashes)
		if _, err = insOcc.ExecContext(ctx, id, id, at.UnixMilli(), string(r.State), hash, nowMS); err != nil {
			return 0, fmt.Errorf("bulk occurrence %d: %w", i, err)
		}
		if len(r.Approvers) > 0 {
			hj, _ := json.Marshal(hashes)
			for _, u := range r.Approvers {
				if _, err = insReaction.ExecContext(ctx, id, u, u, string(hj), nowMS); err != nil {
					return 0, fmt.Errorf("bulk reaction %d: %w", i, err)
				}
			}
		}
		var delivery approvals.DeliveryState
		switch r.State {
		case approvals.StatePublished:
			delivery = approvals.DeliveryPublished
		case approvals.StateFailed:
			delivery = approvals.DeliveryFailed
		case approvals.StateUnknown:
			delivery = approvals.DeliveryUnknown
		case approvals.StatePublishing:
			delivery = approvals.DeliveryPublishing
		default:
			continue
		}
		for _, t := range r.Targets {
			key := approvals.IdempotencyKey(st.InstallID(), id, t, hashes[t])
			if _, err = insDelivery.ExecContext(ctx, id, t, delivery, key, nowMS); err != nil {
				return 0, fmt.Errorf("bulk delivery %d: %w", i, err)
			}
		}
	}
	if _, err = tx.ExecContext(ctx, `UPDATE seq SET next = ? WHERE id = 1`, first+int64(n)); err != nil {
		return 0, err
	}
	err = tx.Commit()
	return first, err
}
