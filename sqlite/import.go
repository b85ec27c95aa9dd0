package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"strings"

	"github.com/heed-dev/heed/approvals"
)

// Import upserts calendar entries by key in one transaction: all of them,
// or, if any entry is invalid, none. Running the same file twice changes
// nothing the second time; a changed entry voids approvals only of the
// occurrences whose payload it changes.
func (s *PostService) Import(ctx context.Context, entries []approvals.ImportEntry, actor, place string, dryRun bool) (approvals.ImportResult, error) {
	now := s.now()
	var res approvals.ImportResult
	errDry := errors.New("dry run")
	err := s.store.tx(ctx, func(tx *sql.Tx) error {
		res = approvals.ImportResult{}
		var problems []string
		for _, e := range entries {
			np := approvals.NormalizeNewPost(e.Post)
			var id int64
			err := tx.QueryRowContext(ctx, `SELECT id FROM posts WHERE key = ?`, np.Key).Scan(&id)
			switch {
			case errors.Is(err, sql.ErrNoRows):
				if err := s.Validate(np, now); err != nil {
					problems = append(problems, e.Where+" ("+np.Key+"): "+approvals.ErrorMessage(err))
					continue
				}
				pid, err := insertPost(ctx, tx, np, now)
				if err != nil {
					return err
				}
				if err := appendAudit(ctx, tx, approvals.AuditEntry{At: now, Actor: actor, Action: "post.import", PostID: pid, Place: place, Detail: "added " + np.Key}); err != nil {
					return err
				}
				res.Added++
			case err != nil:
				return err
			default:
				p, err := getPost(ctx, tx, id)
				if err != nil {
					return err
				}
				np.Author = p.Author // the author of record does not change on re-import
				old := approvals.NewPost{Key: p.Key, Text: p.Text, Variants: p.Variants, Link: p.Link, Media: p.Media, Targets: p.Targets, Author: p.Author, Room: p.Room, Schedule: p.Schedule}
				if samePost(approvals.NormalizeNewPost(old), np) {
					res.Unchanged++
					continue
				}
				if p.Canceled {
					problems = append(problems, e.Where+" ("+np.Key+"): this post was canceled; give the entry a new key to schedule it again")
					continue
				}
				if err := s.Validate(np, now); err != nil {
					problems = append(problems, e.Where+" ("+np.Key+"): "+approvals.ErrorMessage(err))
					continue
				}
				if _, err := s.updatePost(ctx, tx, p, np, now); err != nil {
					return err
				}
				if err := appendAudit(ctx, tx, approvals.AuditEntry{At: now, Actor: actor, Action: "post.import", PostID: id, Place: place, Detail: "updated " + np.Key}); err != nil {
					return err
				}
				res.Updated++
			}
		}
		if len(problems) > 0 {
			return approvals.Errorf(approvals.EINVALID, "%s", strings.Join(problems, "\n"))
		}
		if dryRun {
			return errDry
		}
		return nil
	})
	if errors.Is(err, errDry) {
		return res, nil
	}
	if err != nil {
		return approvals.ImportResult{}, err
	}
	return res, nil
}
