package sqlite

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"

	"github.com/heed-dev/heed/approvals"
)

// Backup writes a consistent copy of the database to path with SQLite's
// VACUUM INTO: one read transaction, so it may run while heed runs and
// writes. path must not exist; the copy is created readable and writable
// by its owner only (it holds who approved what, and chats' state).
func (s *Store) Backup(ctx context.Context, path string) error {
	if s.postgres() {
		return approvals.Errorf(approvals.EINVALID, "heed backup copies a SQLite file; %s is PostgreSQL: back it up with PostgreSQL's own tools, "+
			"pg_dump --format=custom --file=%s '%s' (consistent while heed runs), and restore with pg_restore into an empty database", s.path, path, s.path)
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if errors.Is(err, fs.ErrExist) {
		return approvals.Errorf(approvals.ECONFLICT, "%s exists: a backup is written to a new file; give another name, or remove it first", path)
	}
	if err != nil {
		return fmt.Errorf("back up to %s: %w", path, err)
	}
	f.Close()
	// VACUUM INTO writes into an empty file; the one just made keeps its
	// mode. On a store opened read-only (OpenReadOnly) the database file
	// stays read-only: only the connection's query_only guard is lifted,
	// for this statement, which writes the new file alone.
	err = s.vacuumInto(ctx, path)
	if err != nil {
		os.Remove(path)
		return fmt.Errorf("back up to %s: %w", path, err)
	}
	return os.Chmod(path, 0o600)
}

func (s *Store) vacuumInto(ctx context.Context, path string) error {
	conn, err := s.db.Conn(ctx)
	if err != nil {
		return err
	}
	defer conn.Close()
	var queryOnly int
	if err := conn.QueryRowContext(ctx, `PRAGMA query_only`).Scan(&queryOnly); err != nil {
		return err
	}
	if queryOnly != 0 {
		if _, err := conn.ExecContext(ctx, `PRAGMA query_only = 0`); err != nil {
			return err
		}
		defer conn.ExecContext(context.WithoutCancel(ctx), `PRAGMA query_only = 1`)
	}
	_, err = conn.ExecContext(ctx, `VACUUM INTO ?`, path)
	return err
}
