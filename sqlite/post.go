package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/heed-dev/heed/approvals"
)

// Validate checks a new post, naming what to fix.
func (s *PostService) Validate(p approvals.NewPost, now time.Time) error {
	if strings.TrimSpace(p.Text) == "" {
		return approvals.Errorf(approvals.EINVALID, "the post has no text: give it some (--text)").On(approvals.FieldText)
	}
	if len(p.Targets) == 0 {
		return approvals.Errorf(approvals.EINVALID, "the post has no target: name at least one (--to); known targets: %s", strings.Join(s.settings.Targets.Names(), ", ")).On(approvals.FieldTargets)
	}
	seen := map[string]bool{}
	for _, t := range p.Targets {
		if !s.settings.Targets.Known(t) {
			return approvals.Errorf(approvals.EINVALID, "unknown target %q: known targets are %s", t, strings.Join(s.settings.Targets.Names(), ", ")).On(approvals.FieldTargets)
		}
		if seen[t] {
			return approvals.Errorf(approvals.EINVALID, "target %q is named twice", t).On(approvals.FieldTargets)
		}
		seen[t] = true
	}
	for t, v := range p.Variants {
		if !seen[t] {
			return approvals.Errorf(approvals.EINVALID, "text variant for %q, which is not one of the post's targets (%s)", t, strings.Join(p.Targets, ", "))
		}
		if strings.TrimSpace(v) == "" {
			return approvals.Errorf(approvals.EINVALID, "the text variant for %q is empty", t)
		}
	}
	if p.Link != "" {
		if !approvals.IsWebLink(p.Link) {
			return approvals.Errorf(approvals.EINVALID, "link %q is not an http(s) URL", p.Link).On(approvals.FieldLink)
		}
	}
	if strings.TrimSpace(p.Author) == "" {
		return approvals.Errorf(approvals.EINVALID, "the post has no author (--author)")
	}
	if err := approvals.ValidateSchedule(p.Schedule, now); err != nil {
		var e *approvals.Error
		if errors.As(err, &e) && e.Field == "" {
			e.Field = approvals.FieldTime
		}
		return err
	}
	first, _ := p.Schedule.Next(now)
	post := approvals.Post{Text: p.Text, Variants: p.Variants, Link: p.Link, Media: p.Media, Targets: p.Targets}
	var bad []string
	for _, pl := range approvals.Payloads(&post, first) {
		if probs := s.settings.Targets.Problems(pl); len(probs) > 0 {
			bad = append(bad, fmt.Sprintf("target %q: %s", pl.Target, strings.Join(probs, "; ")))
		}
	}
	if len(bad) > 0 {
		// Every target's problems at once, so that one edit fixes them.
		return approvals.Errorf(approvals.EINVALID, "%s", strings.Join(bad, "; ")).On(approvals.FieldText)
	}
	return nil
}

// AddPost validates and stores a new post, and returns it with its id.
func (s *PostService) AddPost(ctx context.Context, p approvals.NewPost, actor, place string) (approvals.Post, error) {
	post, _, err := s.AddPostOnce(ctx, p, approvals.Once{}, actor, place)
	return post, err
}

// AddPostOnce is AddPost for a request that may be retried: when once has
// a Key, the post and the key are stored in one transaction, and a request
// with a key its scope used before gets the post that key made (replayed)
// if its RequestHash is the same, or an EMISMATCH error if not; either
// way nothing new is stored.
func (s *PostService) AddPostOnce(ctx context.Context, p approvals.NewPost, once approvals.Once, actor, place string) (approvals.Post, bool, error) {
	now := s.now()
	p = approvals.NormalizeNewPost(p)
	// A retry is answered before validation, which may say otherwise by
	// now (its time has passed): the retry asks for what the first made.
	if post, found, err := s.once(ctx, s.store.db, once); found || err != nil {
		return post, found, err
	}
	if err := s.Validate(p, now); err != nil {
		return approvals.Post{}, false, err
	}
	var id int64
	var post approvals.Post
	replayed := false
	err := s.store.tx(ctx, func(tx *sql.Tx) error {
		var err error
		// Checked again in the transaction: a retry racing the first.
		if post, replayed, err = s.once(ctx, tx, once); replayed || err != nil {
			return err
		}
		if p.Key != "" {
			var n int
			if err := tx.QueryRowContext(ctx, `SELECT count(*) FROM posts WHERE key = ?`, p.Key).Scan(&n); err != nil {
				return err
			}
			if n > 0 {
				return approvals.Errorf(approvals.ECONFLICT, "a post with key %q exists already", p.Key)
			}
		}
		id, err = insertPost(ctx, tx, p, now)
		if err != nil {
			return err
		}
		if once.Key != "" {
			if _, err := tx.ExecContext(ctx, `INSERT INTO api_idempotency (person, key, request_hash, post_id, created_at) VALUES (?, ?, ?, ?, ?)`,
				once.Scope, once.Key, once.RequestHash, id, ms(now)); err != nil {
				return err
			}
		}
		return appendAudit(ctx, tx, approvals.AuditEntry{At: now, Actor: actor, Action: "post.add", PostID: id, Place: place, Detail: approvals.PostSummary(p)})
	})
	if err != nil || replayed {
		return post, replayed, err
	}
	post, err = s.GetPost(ctx, id)
	return post, false, err
}

// Replay returns the post a request with once's key made before, if any:
// found when the request's hash is the same, an EMISMATCH error when not.
func (s *PostService) Replay(ctx context.Context, once approvals.Once) (approvals.Post, bool, error) {
	return s.once(ctx, s.store.db, once)
}

// once finds the post a request with once's key made before: found with
// the post when the request's hash is the same, an EMISMATCH error when
// not, or not found.
func (s *PostService) once(ctx context.Context, q querier, once approvals.Once) (approvals.Post, bool, error) {
	if once.Key == "" {
		return approvals.Post{}, false, nil
	}
	var hash string
	var id int64
	err := q.QueryRowContext(ctx, `SELECT request_hash, post_id FROM api_idempotency WHERE person = ? AND key = ?`, once.Scope, once.Key).Scan(&hash, &id)
	if errors.Is(err, sql.ErrNoRows) {
		return approvals.Post{}, false, nil
	}
	if err != nil {
		return approvals.Post{}, false, err
	}
	if hash != once.RequestHash {
		return approvals.Post{}, false, approvals.Errorf(approvals.EMISMATCH, "Idempotency-Key %q was used for post %d with another request body: send that same body again, or use a new key for a new post", once.Key, id)
	}
	p, err := getPost(ctx, q, id)
	return p, err == nil, err
}

func nextID(ctx context.Context, tx *sql.Tx) (int64, error) {
	var id int64
	err := tx.QueryRowContext(ctx, `UPDATE seq SET next = next + 1 WHERE id = 1 RETURNING next - 1`).Scan(&id)
	return id, err
}

func insertPost(ctx context.Context, tx *sql.Tx, p approvals.NewPost, now time.Time) (int64, error) {
	id, err := nextID(ctx, tx)
	if err != nil {
		return 0, err
	}
	variants, _ := json.Marshal(p.Variants)
	media, _ := json.Marshal(orEmpty(p.Media))
	targets, _ := json.Marshal(p.Targets)
	next, ok := p.Schedule.Next(now)
	var nextAt any
	if ok {
		nextAt = ms(next)
	}
	var key any
	if p.Key != "" {
		key = p.Key
	}
	_, err = tx.ExecContext(ctx, `INSERT INTO posts (id, key, text, variants, link, media, targets, author, room, at, cron, tz, until, next_at, created_at, updated_at, source)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		id, key, p.Text, string(variants), p.Link, string(media), string(targets), p.Author, p.Room,
		nullMS(p.Schedule.At), p.Schedule.Cron, p.Schedule.TZ, nullMS(p.Schedule.Until), nextAt, ms(now), ms(now), p.Source)
	return id, err
}

func orEmpty(m []approvals.Media) []approvals.Media {
	if m == nil {
		return []approvals.Media{}
	}
	return m
}

const postColumns = `id, coalesce(key, ''), text, variants, link, media, targets, author, room, coalesce(at, 0), cron, tz, coalesce(until, 0), canceled, created_at, updated_at, source`

type scanner interface{ Scan(...any) error }

func scanPost(r scanner) (approvals.Post, error) {
	var p approvals.Post
	var variants, media, targets string
	var at, until, created, updated int64
	err := r.Scan(&p.ID, &p.Key, &p.Text, &variants, &p.Link, &media, &targets, &p.Author, &p.Room,
		&at, &p.Schedule.Cron, &p.Schedule.TZ, &until, &p.Canceled, &created, &updated, &p.Source)
	if err != nil {
		return p, err
	}
	_ = json.Unmarshal([]byte(variants), &p.Variants)
	_ = json.Unmarshal([]byte(media), &p.Media)
	_ = json.Unmarshal([]byte(targets), &p.Targets)
	p.Schedule.At, p.Schedule.Until = fromMS(at), fromMS(until)
	p.Created, p.Updated = fromMS(created), fromMS(updated)
	return p, nil
}

type querier interface {
	QueryRowContext(ctx context.Context, q string, args ...any) *sql.Row
	QueryContext(ctx context.Context, q string, args ...any) (*sql.Rows, error)
	ExecContext(ctx context.Context, q string, args ...any) (sql.Result, error)
}

func getPost(ctx context.Context, q querier, id int64) (approvals.Post, error) {
	p, err := scanPost(q.QueryRowContext(ctx, `SELECT `+postColumns+` FROM posts WHERE id = ?`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return p, approvals.Errorf(approvals.ENOTFOUND, "no post %d (heed post list shows them)", id)
	}
	return p, err
}

// GetPost returns one post.
func (s *PostService) GetPost(ctx context.Context, id int64) (approvals.Post, error) {
	return getPost(ctx, s.store.db, id)
}

// GetPostByKey returns the post imported with key.
func (s *PostService) GetPostByKey(ctx context.Context, key string) (approvals.Post, error) {
	p, err := scanPost(s.store.db.QueryRowContext(ctx, `SELECT `+postColumns+` FROM posts WHERE key = ?`, key))
	if errors.Is(err, sql.ErrNoRows) {
		return p, approvals.Errorf(approvals.ENOTFOUND, "no post with key %q", key)
	}
	return p, err
}

// ListPosts returns posts, newest first; canceled ones only if asked.
func (s *PostService) ListPosts(ctx context.Context, includeCanceled bool, limit int) ([]approvals.Post, error) {
	if limit <= 0 {
		limit = 100
	}
	return queryAll(ctx, s.store.db, scanPost, `SELECT `+postColumns+` FROM posts WHERE NOT canceled OR ? ORDER BY id DESC LIMIT ?`, includeCanceled, limit)
}

// EditPost changes a post. Every open occurrence whose payload changes loses
// the approvals given for the old payload; occurrences whose payload is
// unchanged keep theirs.
func (s *PostService) EditPost(ctx context.Context, id int64, e approvals.PostEdit, actor, place string) (approvals.Post, error) {
	now := s.now()
	err := s.store.tx(ctx, func(tx *sql.Tx) error {
		p, err := getPost(ctx, tx, id)
		if err != nil {
			return err
		}
		if p.Canceled {
			return approvals.Errorf(approvals.ECONFLICT, "post %d is canceled", id)
		}
		np := approvals.NewPost{Key: p.Key, Text: p.Text, Variants: p.Variants, Link: p.Link, Media: p.Media, Targets: p.Targets, Author: p.Author, Room: p.Room, Schedule: p.Schedule}
		if e.Text != nil {
			np.Text = *e.Text
		}
		if e.Variants != nil {
			np.Variants = e.Variants
		}
		if e.Link != nil {
			np.Link = *e.Link
		}
		if e.Media != nil {
			np.Media = e.Media
		}
		if e.Targets != nil {
			np.Targets = e.Targets
		}
		if e.Room != nil {
			np.Room = *e.Room
		}
		if e.Schedule != nil {
			np.Schedule = *e.Schedule
		}
		np = approvals.NormalizeNewPost(np)
		if err := s.Validate(np, now); err != nil {
			return err
		}
		changed, err := s.updatePost(ctx, tx, p, np, now)
		if err != nil || !changed {
			return err
		}
		return appendAudit(ctx, tx, approvals.AuditEntry{At: now, Actor: actor, Action: "post.edit", PostID: id, Place: place, Detail: approvals.PostSummary(np)})
	})
	if err != nil {
		return approvals.Post{}, err
	}
	return s.GetPost(ctx, id)
}

// updatePost writes np over p and re-derives every open occurrence. It
// reports whether anything changed.
func (s *PostService) updatePost(ctx context.Context, tx *sql.Tx, p approvals.Post, np approvals.NewPost, now time.Time) (bool, error) {
	old := approvals.NewPost{Key: p.Key, Text: p.Text, Variants: p.Variants, Link: p.Link, Media: p.Media, Targets: p.Targets, Author: p.Author, Room: p.Room, Schedule: p.Schedule}
	if samePost(old, np) {
		return false, nil
	}
	variants, _ := json.Marshal(np.Variants)
	media, _ := json.Marshal(orEmpty(np.Media))
	targets, _ := json.Marshal(np.Targets)
	scheduleChanged := old.Schedule != np.Schedule
	var nextAt any
	if scheduleChanged {
		if next, ok := np.Schedule.Next(now); ok {
			nextAt = ms(next)
		}
	} else {
		_ = tx.QueryRowContext(ctx, `SELECT next_at FROM posts WHERE id = ?`, p.ID).Scan(&nextAt)
	}
	if _, err := tx.ExecContext(ctx, `UPDATE posts SET text = ?, variants = ?, link = ?, media = ?, targets = ?, room = ?,
		at = ?, cron = ?, tz = ?, until = ?, next_at = ?, updated_at = ? WHERE id = ?`,
		np.Text, string(variants), np.Link, string(media), string(targets), np.Room,
		nullMS(np.Schedule.At), np.Schedule.Cron, np.Schedule.TZ, nullMS(np.Schedule.Until), nextAt, ms(now), p.ID); err != nil {
		return false, err
	}
	ids, err := openOccurrences(ctx, tx, p.ID)
	if err != nil {
		return false, err
	}
	for _, oid := range ids {
		o, err := getOcc(ctx, tx, oid)
		if err != nil {
			return false, err
		}
		if scheduleChanged {
			if !np.Schedule.Recurring() {
				// A one-shot post's single occurrence follows its new time.
				if err := s.moveOcc(ctx, tx, o, np.Schedule.At, now, "the post's time changed"); err != nil {
					return false, err
				}
				continue
			}
			if !approvals.OnSchedule(np.Schedule, o.At) {
				if err := s.setState(ctx, tx, o, approvals.EvCancel, "the post's schedule no longer includes this time", now); err != nil {
					return false, err
				}
				continue
			}
		}
		if _, err := s.refresh(ctx, tx, oid, now); err != nil {
			return false, err
		}
	}
	return true, nil
}

// samePost compares two posts as stored: no media and an empty list, no
// variants and an empty map, are the same.
func samePost(a, b approvals.NewPost) bool {
	a, b = approvals.NormalizeNewPost(a), approvals.NormalizeNewPost(b)
	a.Media, b.Media = orEmpty(a.Media), orEmpty(b.Media)
	ja, _ := json.Marshal(a)
	jb, _ := json.Marshal(b)
	return string(ja) == string(jb)
}

// CancelPost cancels a post and every open occurrence of it.
func (s *PostService) CancelPost(ctx context.Context, id int64, actor, place string) error {
	now := s.now()
	return s.store.tx(ctx, func(tx *sql.Tx) error {
		p, err := getPost(ctx, tx, id)
		if err != nil {
			return err
		}
		if p.Canceled {
			return approvals.Errorf(approvals.ECONFLICT, "post %d is canceled already", id)
		}
		if _, err := tx.ExecContext(ctx, `UPDATE posts SET canceled = TRUE, next_at = NULL, updated_at = ? WHERE id = ?`, ms(now), id); err != nil {
			return err
		}
		ids, err := openOccurrences(ctx, tx, id)
		if err != nil {
			return err
		}
		for _, oid := range ids {
			o, err := getOcc(ctx, tx, oid)
			if err != nil {
				return err
			}
			if err := s.setState(ctx, tx, o, approvals.EvCancel, "canceled by "+actor, now); err != nil {
				return err
			}
		}
		return appendAudit(ctx, tx, approvals.AuditEntry{At: now, Actor: actor, Action: "post.cancel", PostID: id, Place: place})
	})
}

func openOccurrences(ctx context.Context, tx *sql.Tx, postID int64) ([]int64, error) {
	return queryIDs(ctx, tx, `SELECT id FROM occurrences WHERE post_id = ? AND state IN ('scheduled','in_review','approved','rejected','held')`, postID)
}

// Materialize turns the schedule of every post whose next time is within the
// review window into occurrences. A recurring post gets occurrences for its
// next SeriesCards times only: more follow as those pass. It works in
// batches and reports how many it made.
func (s *PostService) Materialize(ctx context.Context) (int, error) {
	now := s.now()
	horizon := now.Add(s.settings.Window)
	cards := s.settings.SeriesCards
	if cards <= 0 {
		cards = DefaultSeriesCards
	}
	total := 0
	for {
		n, more, err := s.materializeBatch(ctx, now, horizon, cards, 500)
		total += n
		if err != nil || !more {
			return total, err
		}
	}
}

// openStates are the states of an occurrence whose card still asks for a
// decision.
const openStates = `('scheduled','in_review','approved','rejected','held')`

func (s *PostService) materializeBatch(ctx context.Context, now, horizon time.Time, cards, limit int) (made int, more bool, err error) {
	err = s.store.tx(ctx, func(tx *sql.Tx) error {
		made, more = 0, false
		// A series with cards for its next times already is left as it is.
		rows, err := tx.QueryContext(ctx, `SELECT * FROM (SELECT `+postColumns+`, next_at,
				(SELECT count(*) FROM occurrences o WHERE o.post_id = posts.id AND o.at > ? AND o.state IN `+openStates+`) AS upcoming
			FROM posts WHERE next_at IS NOT NULL AND next_at <= ?) AS due
			WHERE cron = '' OR upcoming < ? ORDER BY next_at LIMIT ?`, ms(now), ms(horizon), cards, limit)
		if err != nil {
			return err
		}
		type item struct {
			p        approvals.Post
			next     int64
			upcoming int
		}
		var items []item
		for rows.Next() {
			var it item
			var variants, media, targets string
			var at, until, created, updated int64
			p := &it.p
			if err := rows.Scan(&p.ID, &p.Key, &p.Text, &variants, &p.Link, &media, &targets, &p.Author, &p.Room,
				&at, &p.Schedule.Cron, &p.Schedule.TZ, &until, &p.Canceled, &created, &updated, &p.Source, &it.next, &it.upcoming); err != nil {
				rows.Close()
				return err
			}
			_ = json.Unmarshal([]byte(variants), &p.Variants)
			_ = json.Unmarshal([]byte(media), &p.Media)
			_ = json.Unmarshal([]byte(targets), &p.Targets)
			p.Schedule.At, p.Schedule.Until = fromMS(at), fromMS(until)
			items = append(items, it)
		}
		rows.Close()
		more = len(items) == limit
		for _, it := range items {
			next := it.p.Schedule.NextFunc()
			recurring := it.p.Schedule.Recurring()
			at := fromMS(it.next)
			if recurring {
				if floor := now.Add(-24 * time.Hour); at.Before(floor) {
					// After a long stop, only the last day's times become (missed)
					// occurrences, not every one since.
					at, _ = next(floor)
				}
				at = lastTimes(next, at, now, cards)
			}
			slots := cards - it.upcoming
			for !at.IsZero() && !at.After(horizon) {
				if recurring && at.After(now) {
					if slots <= 0 {
						break // the series' next times wait for a card
					}
					slots--
				}
				id := it.p.ID // a one-shot post's occurrence takes the post's id
				if recurring {
					if id, err = nextID(ctx, tx); err != nil {
						return err
					}
				}
				hash := approvals.CombinedHash(approvals.Hashes(approvals.Payloads(&it.p, at)))
				res, err := tx.ExecContext(ctx, `INSERT INTO occurrences (id, post_id, at, state, hash, updated_at) VALUES (?, ?, ?, 'scheduled', ?, ?) ON CONFLICT DO NOTHING`,
					id, it.p.ID, ms(at), hash, ms(now))
				if err != nil {
					return err
				}
				if n, _ := res.RowsAffected(); n > 0 {
					made++
				}
				n, ok := next(at)
				if !ok {
					at = time.Time{}
					break
				}
				at = n
			}
			if _, err := tx.ExecContext(ctx, `UPDATE posts SET next_at = ? WHERE id = ?`, nullMS(at), it.p.ID); err != nil {
				return err
			}
		}
		return nil
	})
	return made, more, err
}

// lastTimes returns where a series that fell behind resumes: of its times
// from at up to now, only the last n become (missed) occurrences.
func lastTimes(next func(time.Time) (time.Time, bool), at, now time.Time, n int) time.Time {
	var times []time.Time
	for t, ok := at, !at.IsZero(); ok && !t.After(now); t, ok = next(t) {
		times = append(times, t)
		if len(times) == 2*n {
			times = append(times[:0], times[n:]...)
		}
	}
	if len(times) >= n {
		return times[len(times)-n]
	}
	return at
}
