package sqlite

import (
	"database/sql"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/heed-dev/heed/approvals"
)

// TestSQLiteFullDiskIsNamed: a write the database has no room for (SQLite's
// max_page_count stands in for a full disk) fails with an error a person
// can act on, naming the file, and changes nothing.
func TestSQLiteFullDiskIsNamed(t *testing.T) {
	path := filepath.Join(t.TempDir(), "heed.db")
	st, err := Open(t.Context(), path)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	st.db.SetMaxOpenConns(1)
	var pages int
	if err := st.db.QueryRow(`PRAGMA page_count`).Scan(&pages); err != nil {
		t.Fatal(err)
	}
	if _, err := st.db.Exec(`PRAGMA max_page_count = ` + strconv.Itoa(pages)); err != nil {
		t.Fatal(err)
	}
	err = st.tx(t.Context(), func(tx *sql.Tx) error {
		_, err := tx.Exec(`CREATE TABLE needs_a_page (a)`) // a new table needs a new page
		return err
	})
	if approvals.ErrorCode(err) != approvals.EUNAVAILABLE || !strings.Contains(err.Error(), "the disk holding "+path+" is full") {
		t.Fatalf("a write on a full disk: %v", err)
	}
	var n int
	if err := st.db.QueryRow(`SELECT count(*) FROM sqlite_master WHERE name = 'needs_a_page'`).Scan(&n); err != nil || n != 0 {
		t.Fatalf("the failed write changed the database: %d, %v", n, err)
	}
}
