package app

import (
	"context"
	"database/sql"
	"sync"

	"github.com/heed-dev/heed/sqlite"
)

// TablesFunc makes, or brings up to date, the tables a kind keeps in
// heed's database beside heed's own (the Matrix crypto and state stores),
// in db spoken to in dialect ("sqlite" or "postgres").
type TablesFunc func(ctx context.Context, db *sql.DB, dialect string) error

var (
	tablesMu sync.Mutex
	tables   []TablesFunc
)

// RegisterTables adds a kind's tables; app/kinds registers them.
func RegisterTables(f TablesFunc) {
	tablesMu.Lock()
	defer tablesMu.Unlock()
	tables = append(tables, f)
}

// PrepareTables makes every registered kind's tables in st, as those kinds
// do on their first use: `heed migrate --to` makes them in the new
// database before it copies the old one's rows into them.
func PrepareTables(ctx context.Context, st *sqlite.Store) error {
	tablesMu.Lock()
	fs := append([]TablesFunc(nil), tables...)
	tablesMu.Unlock()
	for _, f := range fs {
		if err := f(ctx, st.DB(), st.Dialect()); err != nil {
			return err
		}
	}
	return nil
}
