package sqlite

import (
	"context"
	"database/sql"
)

// Tx runs fn in one of the store's write transactions.
func (s *Store) Tx(ctx context.Context, fn func(*sql.Tx) error) error { return s.tx(ctx, fn) }

// WritePauseGate is what a pause's transaction does first.
func (s *Store) WritePauseGate(ctx context.Context, tx *sql.Tx) error {
	return s.writePauseGate(ctx, tx)
}
